import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { RedisClient } from './redis.ts';
import { budgetRelease } from './scripts/budget-release.ts';
import { budgetReserve } from './scripts/budget-reserve.ts';
import { budgetSettle } from './scripts/budget-settle.ts';
import { chatAdmit } from './scripts/chat-admit.ts';
import { conversationAppend } from './scripts/conversation-append.ts';
import { creditsAdjust } from './scripts/credits-adjust.ts';
import { creditsPurchase } from './scripts/credits-purchase.ts';
import { creditsRefund } from './scripts/credits-refund.ts';
import type { ScriptArgument, ScriptDefinition, ScriptRunner } from './scripts/define-script.ts';
import { deleteIfEquals } from './scripts/delete-if-equals.ts';
import { entityCreate } from './scripts/entity-create.ts';
import { entityDelete } from './scripts/entity-delete.ts';
import { entityUpdate } from './scripts/entity-update.ts';
import { hashFieldSwap } from './scripts/hash-field-swap.ts';
import { rateLimit } from './scripts/rate-limit.ts';
import { streamAcquire } from './scripts/stream-acquire.ts';
import { webhookClaim } from './scripts/webhook-claim.ts';

/** The Lua scripts of the service (each a `.lua` file and its typed wrapper in `scripts/`), by command name. */
const definitions = {
  entityCreate,
  entityUpdate,
  entityDelete,
  hashFieldSwap,
  conversationAppend,
  budgetReserve,
  budgetSettle,
  budgetRelease,
  creditsAdjust,
  creditsPurchase,
  creditsRefund,
  streamAcquire,
  deleteIfEquals,
  chatAdmit,
  webhookClaim,
  rateLimit,
};

/** Every script, called with named keys and arguments; each resolves to its parsed reply. */
export type Scripts = { [Name in keyof typeof definitions]: ScriptRunner<(typeof definitions)[Name]> };

type Command = (...args: ScriptArgument[]) => Promise<unknown>;

/**
 * Registers every script once with ioredis's `defineCommand`, which sends EVALSHA and falls back to
 * EVAL when a node lost its script cache (a restart, a failover, a new cluster node).
 */
export function loadScripts(redis: RedisClient): Scripts {
  const directory = new URL('./scripts/', import.meta.url);
  const scripts: Record<string, unknown> = {};
  for (const [name, definition] of Object.entries(definitions)) {
    const lua = withIncludes(readFileSync(new URL(definition.file, directory), 'utf8'), directory);
    const { keyCount } = definition;
    redis.defineCommand(name, keyCount === 'any' ? { lua } : { numberOfKeys: keyCount, lua });
    scripts[name] = bind(redis, name, definition as ScriptDefinition<unknown, unknown, unknown>);
  }
  return scripts as Scripts;
}

function bind(redis: RedisClient, name: string, definition: ScriptDefinition<unknown, unknown, unknown>) {
  const { file, keyCount, reply } = definition;
  const commands = redis as unknown as Record<string, Command>;
  return async (keys: unknown, args: unknown) => {
    const call = definition.encode(keys, args);
    if (keyCount !== 'any' && call.keys.length !== keyCount) {
      throw new Error(`${file} takes ${keyCount} keys, got ${call.keys.length}`);
    }
    // Sent before the first await: scripts a turn starts together go out in one write (auto-pipelining).
    const raw = await (keyCount === 'any'
      ? commands[name]!(call.keys.length, ...call.keys, ...call.args)
      : commands[name]!(...call.keys, ...call.args));
    const parsed = reply.safeParse(raw);
    if (!parsed.success) {
      throw new Error(`${file} replied outside its contract: ${z.prettifyError(parsed.error)}`, {
        cause: parsed.error,
      });
    }
    return parsed.data;
  };
}

/**
 * Shared Lua pieces are written once (`scripts/lib/`) and pulled in by a `--#include lib/<file>.lua`
 * line, replaced by the file's text before the script is registered.
 */
function withIncludes(lua: string, directory: URL): string {
  return lua.replace(/^--#include (\S+)$/gm, (_line, path: string) =>
    readFileSync(new URL(path, directory), 'utf8'),
  );
}
