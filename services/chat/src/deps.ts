import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { SettleJournal } from './domain/budgets/settle-journal.ts';
import type { HoldForecast } from './domain/chat/hold-forecast.ts';
import type { LiveAnswerHub } from './domain/chat/live-answers.ts';
import type { ModelProvider } from './domain/chat/model/model-client.ts';
import type { StripeClient } from './domain/credits/stripe.ts';
import type { SecretBox } from './domain/crypto.ts';
import type { UserTokenKeys } from './domain/identity/user-token-keys.ts';
import type { McpClient } from './domain/mcp/client.ts';
import type { ModelCatalog } from './domain/model-catalog.ts';
import type { Env } from './env.ts';
import type { HistoryStore } from './storage/database/history-store.ts';
import type { Keys } from './storage/keys.ts';
import type { RedisClient } from './storage/redis.ts';
import type { Scripts } from './storage/scripts.ts';
import type { Stores } from './storage/stores.ts';

export interface Clock {
  now(): Date;
}

/**
 * Everything the service depends on, built once in main.ts (or by a test) and passed down. No
 * module keeps its own singleton, so a test builds a whole world of its own.
 */
export interface Deps {
  env: Env;
  redis: RedisClient;
  scripts: Scripts;
  /** PostgreSQL: the system of record for history (ledger, LLM calls, Stripe events). */
  history: HistoryStore;
  keys: Keys;
  stores: Stores;
  logger: Logger;
  metrics: Registry;
  clock: Clock;
  secretBox: SecretBox;
  /** Imported public keys and fetched JWKS that verify user tokens, kept between requests. */
  userTokenKeys: UserTokenKeys;
  modelCatalog: ModelCatalog;
  /** MCP sessions kept across requests (chat tool calls, catalog reads), fresh ones for smoke tests. */
  mcp: McpClient;
  models: ModelProvider;
  /** Answers being streamed, for a reloaded page to re-attach to (any instance). */
  liveAnswers: LiveAnswerHub;
  /** Settles Redis could not take, kept on local disk until it can. */
  settleJournal: SettleJournal;
  /** What this process last saw of agents and conversations, to take a turn's first hold early. */
  holdForecast: HoldForecast;
  /** The Stripe client for AI-credit purchases; null when STRIPE_SECRET_KEY is unset. */
  stripe: StripeClient | null;
}

export const systemClock: Clock = { now: () => new Date() };
