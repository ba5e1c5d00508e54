import { readFileSync } from 'node:fs';
import { z } from 'zod';

const booleanFlag = (defaultValue: boolean) =>
  z
    .enum(['true', 'false', '1', '0'], { message: 'must be true or false' })
    .optional()
    .transform((value) => (value === undefined ? defaultValue : value === 'true' || value === '1'));

/** A number in [min, max] (an integer when `kind` says so), or `defaultValue` when unset or empty. */
const bounded = (kind: 'integer' | 'number', defaultValue: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((value, context) => {
      if (value === undefined || value === '') return defaultValue;
      const parsed = Number(value);
      const valid = kind === 'integer' ? Number.isInteger(parsed) : Number.isFinite(parsed);
      if (!valid || parsed < min || parsed > max) {
        context.addIssue({
          code: 'custom',
          message: `must be ${kind === 'integer' ? 'an integer' : 'a number'} from ${min} to ${max}`,
        });
        return z.NEVER;
      }
      return parsed;
    });

const integer = (defaultValue: number, min: number, max: number) =>
  bounded('integer', defaultValue, min, max);
const decimal = (defaultValue: number, min: number, max: number) => bounded('number', defaultValue, min, max);

const url = (defaultValue: string, protocols: readonly string[]) =>
  z
    .string()
    .optional()
    .transform((value, context) => {
      const raw = value === undefined || value === '' ? defaultValue : value;
      try {
        const parsed = new URL(raw);
        if (!protocols.includes(parsed.protocol)) throw new Error('protocol');
        return raw;
      } catch {
        context.addIssue({
          code: 'custom',
          message: `must be a URL starting with ${protocols.join(' or ')}//`,
        });
        return z.NEVER;
      }
    });

/**
 * The service's whole configuration, read once at start. Every variable name here is part of the
 * product's interface (documented in the README): rename none of them.
 */
export const envSchema = z.object({
  PORT: integer(8787, 0, 65535),
  HOST: z.string().min(1).default('0.0.0.0'),
  REDIS_URL: z
    .string()
    .default('redis://127.0.0.1:6379')
    .refine(
      (value) =>
        value.split(',').every((part) => /^rediss?:\/\//.test(part.trim()) && URL.canParse(part.trim())),
      'must be redis://host:port (or rediss://), or a comma-separated list of them with MCPSTACK_REDIS_CLUSTER=true',
    ),
  MCPSTACK_REDIS_CLUSTER: booleanFlag(false),
  // History (the ledger, the LLM-call log, Stripe's events) lives in PostgreSQL: a server when
  // DATABASE_URL is set, else an embedded PGlite under MCPSTACK_DATA_DIR.
  DATABASE_URL: z
    .string()
    .optional()
    .transform((value) => (value === '' ? undefined : value))
    .refine(
      (value) => value === undefined || (/^postgres(ql)?:\/\//.test(value) && URL.canParse(value)),
      'must be postgres://user:password@host:port/database',
    ),
  MCPSTACK_DATA_DIR: z.string().min(1).default('./.mcpstack-data'),
  MCPSTACK_HISTORY_DRAIN: booleanFlag(true),
  MCPSTACK_REDIS_PREFIX: z
    .string()
    .default('mcpstack:')
    .refine(
      (value) => /^[A-Za-z0-9:_.-]*$/.test(value),
      'may hold only letters, digits and : _ . - (braces mark hash tags)',
    ),
  MCPSTACK_ADMIN_TOKEN: z
    .string({ message: 'is required: the operator token that creates organizations (32+ characters)' })
    .min(32, 'must be at least 32 characters (generate one with: openssl rand -hex 32)'),
  MCPSTACK_SECRET_KEY: z
    .string({ message: 'is required: the key that encrypts stored credentials (32+ characters)' })
    .min(32, 'must be at least 32 characters (generate one with: openssl rand -hex 32)'),
  OPENAI_BASE_URL: url('https://api.openai.com/v1', ['http:', 'https:']),
  OPENAI_API_KEY: z.string().optional(),
  MCPSTACK_ALLOW_PRIVATE_URLS: booleanFlag(false),
  MCPSTACK_MODEL_CATALOG: z.string().optional(),
  MCPSTACK_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  MCPSTACK_MAX_BODY_BYTES: integer(262_144, 1024, 16 * 1024 * 1024),
  MCPSTACK_SHUTDOWN_TIMEOUT_MS: integer(10_000, 0, 600_000),
  /** Worker processes on one port (node:cluster): a number, or `auto` for one per core. */
  MCPSTACK_WORKERS: z
    .union([z.literal('auto'), z.coerce.number().int().min(1).max(256)], {
      message: 'must be a number of worker processes (1 to 256) or auto (one per core)',
    })
    .default(1),
  MCPSTACK_MCP_TIMEOUT_MS: integer(15_000, 100, 300_000),
  MCPSTACK_MCP_TOOLS_CACHE_SECONDS: integer(30, 0, 3600),
  MCPSTACK_MCP_MAX_RESULT_CHARS: integer(20_000, 100, 1_000_000),
  MCPSTACK_OPENAI_API: z
    .enum(['chat', 'responses'], { message: 'must be chat (Chat Completions) or responses' })
    .default('chat'),
  MCPSTACK_MODEL_TIMEOUT_MS: integer(120_000, 1000, 3_600_000),
  MCPSTACK_RESERVATION_GRACE_MS: integer(60_000, 100, 3_600_000),
  /** The settle journal's directory; by default `<MCPSTACK_DATA_DIR>/settle-journal`. */
  MCPSTACK_JOURNAL_DIR: z.string().min(1).optional(),
  MCPSTACK_SETTLE_TIMEOUT_MS: integer(2000, 50, 60_000),
  /** How long an answer goes on with nobody watching (a reload re-attaches within it), then stops. */
  MCPSTACK_CHAT_DETACH_GRACE_MS: integer(10_000, 0, 600_000),
  MCPSTACK_HOLD_SWEEP_MS: integer(10_000, 100, 3_600_000),
  /** Webhooks: how often each instance reads the event outbox and the due deliveries. */
  MCPSTACK_WEBHOOK_POLL_MS: integer(1000, 10, 600_000),
  /** The first retry's delay; each next one doubles (at most 6 hours), for 24 hours. */
  MCPSTACK_WEBHOOK_RETRY_BASE_MS: integer(5000, 1, 3_600_000),
  /** How long a receiver may take to answer one attempt. */
  MCPSTACK_WEBHOOK_TIMEOUT_MS: integer(10_000, 100, 120_000),
  /** How long deliveries and their attempts stay readable. */
  MCPSTACK_WEBHOOK_RETENTION_DAYS: integer(7, 1, 90),
  MCPSTACK_CHAT_MAX_BODY_BYTES: integer(1_048_576, 1024, 64 * 1024 * 1024),
  MCPSTACK_CHAT_MAX_MESSAGE_CHARS: integer(8000, 1, 1_000_000),
  MCPSTACK_CHAT_MAX_MESSAGES: integer(200, 2, 100_000),
  MCPSTACK_CONVERSATION_RETENTION_DAYS: integer(30, 0, 3650),
  MCPSTACK_LLM_CALL_RETENTION_DAYS: integer(400, 0, 3650),
  MCPSTACK_FREE_CREDITS_USD: decimal(5, 0, 1_000_000),
  // AI credits through Stripe: without STRIPE_SECRET_KEY, buying answers 503 billing_not_configured.
  STRIPE_SECRET_KEY: z.string().trim().min(1).optional(),
  STRIPE_WEBHOOK_SECRET: z.string().trim().min(1).optional(),
  STRIPE_API_BASE: z
    .string()
    .optional()
    .refine((value) => {
      if (value === undefined || value === '') return true;
      const parsed = URL.canParse(value) ? new URL(value) : null;
      return parsed !== null && ['http:', 'https:'].includes(parsed.protocol) && parsed.pathname === '/';
    }, 'must be protocol, host and port only, e.g. http://127.0.0.1:12111'),
  MCPSTACK_CREDITS_MIN_PURCHASE_USD: decimal(5, 0.5, 999_999),
  MCPSTACK_CREDITS_MAX_PURCHASE_USD: decimal(10_000, 0.5, 999_999),
  MCPSTACK_CHECKOUT_SUCCESS_URL: url(
    'http://localhost:3000/billing/ai-credits?checkout=success&session_id={CHECKOUT_SESSION_ID}',
    ['http:', 'https:'],
  ),
  MCPSTACK_CHECKOUT_CANCEL_URL: url('http://localhost:3000/billing/ai-credits?checkout=cancelled', [
    'http:',
    'https:',
  ]),
  MCPSTACK_LOW_BALANCE_USD: decimal(1, 0, 1_000_000),
  MCPSTACK_DNS_SERVERS: z
    .string()
    .optional()
    .refine(
      (value) =>
        value === undefined ||
        value
          .split(',')
          .every((server) =>
            /^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\])(?::\d{1,5})?$/.test(server.trim()),
          ),
      'must be IP[:port] entries separated by commas, e.g. 127.0.0.1:5353',
    ),
  MCPSTACK_REQUIRE_VERIFIED_DOMAINS: booleanFlag(true),
  MCPSTACK_ALLOW_LOCALHOST_ORIGINS: booleanFlag(false),
  MCPSTACK_TRUSTED_PROXIES: integer(0, 0, 10),
  MCPSTACK_RATE_LIMIT_KEY_PER_MINUTE: integer(600, 1, 1_000_000),
  MCPSTACK_RATE_LIMIT_VISITOR_PER_MINUTE: integer(30, 1, 1_000_000),
  MCPSTACK_RATE_LIMIT_IP_PER_MINUTE: integer(120, 1, 1_000_000),
  MCPSTACK_RATE_LIMIT_API_KEY_PER_MINUTE: integer(1200, 1, 1_000_000),
  MCPSTACK_MAX_STREAMS_PER_VISITOR: integer(3, 1, 1000),
  // /metrics: with a token, only `Authorization: Bearer <token>`; without, only loopback clients.
  MCPSTACK_METRICS_TOKEN: z
    .string()
    .optional()
    .transform((value) => (value === undefined || value === '' ? undefined : value))
    .refine(
      (value) => value === undefined || value.length >= 32,
      'must be at least 32 characters (generate one with: openssl rand -hex 32)',
    ),
  // How long a client may take to send a request: its headers, then the whole request. Neither
  // bounds the response, so a long chat stream is never cut by them.
  MCPSTACK_HEADERS_TIMEOUT_MS: integer(15_000, 1000, 600_000),
  MCPSTACK_REQUEST_TIMEOUT_MS: integer(60_000, 1000, 3_600_000),
  MCPSTACK_KEEP_ALIVE_TIMEOUT_MS: integer(65_000, 1000, 600_000),
});

export type Env = z.infer<typeof envSchema>;

/** Thrown when the environment is invalid; its message names every bad or missing variable. */
export class EnvError extends Error {
  override name = 'EnvError';
}

export function parseEnv(source: Record<string, string | undefined>): Env {
  const result = envSchema.safeParse(source);
  if (result.success) {
    const { MCPSTACK_HEADERS_TIMEOUT_MS: headers, MCPSTACK_REQUEST_TIMEOUT_MS: request } = result.data;
    // Node refuses a headers timeout longer than the request timeout.
    if (headers > request) {
      throw new EnvError(
        `Invalid configuration:\n  MCPSTACK_HEADERS_TIMEOUT_MS: must not exceed MCPSTACK_REQUEST_TIMEOUT_MS (${request})`,
      );
    }
    return result.data;
  }
  const lines = result.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
  throw new EnvError(`Invalid configuration:\n${lines.join('\n')}`);
}

/** `MCPSTACK_MODEL_CATALOG` is either inline JSON or `@/path/to/catalog.json`. */
export function readModelCatalogSource(value: string | undefined): unknown {
  if (value === undefined || value.trim() === '') return undefined;
  const text = value.startsWith('@') ? readFileSync(value.slice(1), 'utf8') : value;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new EnvError(
      `Invalid configuration:\n  MCPSTACK_MODEL_CATALOG: is not valid JSON (${String(error)})`,
    );
  }
}
