import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { type McpServerRecord, type ToolRecord, toolRecord } from '../../storage/records.ts';
import type { McpToolDescriptor } from './client.ts';
import { type ListingOptions, listToolsCached } from './tool-listing-cache.ts';

/**
 * Each server's tools as the organization knows them: what the server lists, merged with the
 * organization's settings for each tool.
 *
 * Storage: the hash `mcpTools(serverId)` holds one `toolRecord` per tool id, plus one field
 * `catalogField` with the state of the last listing (status, error, the tool ids it listed), so
 * every replica reports the same "last known tools" when the server cannot be reached.
 */

export type CatalogDeps = Pick<
  Deps,
  'env' | 'redis' | 'scripts' | 'keys' | 'clock' | 'secretBox' | 'mcp' | 'logger'
>;

const base32 = 'abcdefghijklmnopqrstuvwxyz234567';

/**
 * `tool_` + 22 lowercase base32 characters of sha256(serverId \0 name): the same tool of the same
 * server always has the same id, on every replica, without a lookup table.
 */
export function toolIdFor(serverId: string, toolName: string): string {
  const digest = createHash('sha256').update(`${serverId}\0${toolName}`).digest();
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < 22) {
      out += base32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
    if (out.length === 22) break;
  }
  return `tool_${out}`;
}

/** The hash field holding the last listing's state; tool ids (`tool_…`) can never collide with it. */
export const catalogField = '_catalog';
const catalogState = z.object({
  status: z.enum(['ok', 'error']),
  error: z.string().nullable(),
  checkedAt: z.string(),
  /** The ids of the last successful listing, in the server's order: the "last known tools". */
  toolIds: z.array(z.string()),
});
export type CatalogState = z.infer<typeof catalogState>;

export function parseCatalog(raw: string | null | undefined): CatalogState | null {
  if (!raw) return null;
  return catalogState.parse(JSON.parse(raw));
}

export function toolsKey(
  deps: Pick<Deps, 'keys'>,
  server: Pick<McpServerRecord, 'organizationId' | 'id'>,
): string {
  return deps.keys.organization(server.organizationId).mcpTools(server.id);
}

/** The state of the server's last listing, without listing it. */
export async function readCatalogState(
  deps: Pick<Deps, 'redis' | 'keys'>,
  server: Pick<McpServerRecord, 'organizationId' | 'id'>,
): Promise<CatalogState | null> {
  return parseCatalog(await deps.redis.hget(toolsKey(deps, server), catalogField));
}

/** Forgets the last listing (the server moved); the tools' settings stay, keyed by tool name. */
export async function forgetCatalogState(
  deps: Pick<Deps, 'redis' | 'keys'>,
  server: Pick<McpServerRecord, 'organizationId' | 'id'>,
): Promise<void> {
  await deps.redis.hdel(toolsKey(deps, server), catalogField);
}

export interface ServerTools {
  tools: ToolRecord[];
  state: CatalogState | null;
  /** Set when the server could not be listed now; `tools` are then the last known ones. */
  failure: ApiError | null;
}

async function readStoredTools(deps: CatalogDeps, server: McpServerRecord) {
  const raw = await deps.redis.hgetall(toolsKey(deps, server));
  const tools = new Map<string, { raw: string; record: ToolRecord }>();
  for (const [field, value] of Object.entries(raw)) {
    if (field === catalogField) continue;
    tools.set(field, { raw: value, record: toolRecord.parse(JSON.parse(value)) });
  }
  return { tools, state: parseCatalog(raw[catalogField]) };
}

/** The organization's settings of a tool it has not changed: enabled, as the server describes it. */
export const defaultToolSettings = {
  isEnabled: true,
  displayName: null,
  descriptionOverride: null,
  instructions: null,
  whenToUse: null,
  whenNotToUse: null,
} as const satisfies Partial<ToolRecord>;

/** How often a compare-and-set of one tool's field is retried when others keep changing it. */
export const maxSwapAttempts = 10;

/**
 * Writes a tool's descriptor (as the server lists it) without touching its settings, even while
 * a PATCH of the same tool runs: compare-and-set against the value read, re-read on a race.
 */
async function storeDescriptor(
  deps: CatalogDeps,
  key: string,
  id: string,
  descriptor: McpToolDescriptor,
  stored: { raw: string; record: ToolRecord } | undefined,
  now: string,
): Promise<ToolRecord> {
  let current = stored;
  for (let attempt = 0; attempt < maxSwapAttempts; attempt++) {
    const next: ToolRecord = {
      id,
      ...defaultToolSettings,
      ...current?.record,
      name: descriptor.name,
      title: descriptor.title,
      description: descriptor.description,
      inputSchema: descriptor.inputSchema,
      lastSeenAt: now,
    };
    const nextRaw = JSON.stringify(next);
    if (current?.raw === nextRaw) return next;
    if (
      await deps.scripts.hashFieldSwap(
        { hash: key },
        { field: id, expected: current?.raw ?? null, value: nextRaw },
      )
    )
      return next;
    const raw = await deps.redis.hget(key, id);
    current = raw === null ? undefined : { raw, record: toolRecord.parse(JSON.parse(raw)) };
  }
  throw new Error(`Gave up storing tool ${id} after ${maxSwapAttempts} concurrent changes`);
}

/**
 * The server's tools: its live tools/list (through the short cache unless `cache` is false) merged
 * with the stored settings, new tools enabled. When the server cannot be listed, the tools of the
 * last successful listing, with `failure` saying why.
 */
export async function getServerTools(
  deps: CatalogDeps,
  server: McpServerRecord,
  options: ListingOptions,
): Promise<ServerTools> {
  const key = toolsKey(deps, server);
  const listing = listToolsCached(deps, server, options);
  const [result, stored] = await Promise.all([
    listing.tools.then(
      (tools) => ({ ok: true as const, tools }),
      (error: unknown) => ({ ok: false as const, error }),
    ),
    readStoredTools(deps, server),
  ]);
  const now = deps.clock.now().toISOString();

  if (!result.ok) {
    if (!(result.error instanceof ApiError)) throw result.error;
    const state: CatalogState = {
      status: 'error',
      error: result.error.message,
      checkedAt: now,
      toolIds: stored.state?.toolIds ?? [],
    };
    await deps.redis.hset(key, catalogField, JSON.stringify(state));
    // Logged when the failure starts or changes, not on every read of a server that stays down.
    if (stored.state?.status !== 'error' || stored.state.error !== state.error) {
      deps.logger.warn(
        { organizationId: server.organizationId, mcpServerId: server.id, reason: state.error },
        'mcp server tools/list failed',
      );
    }
    const tools = state.toolIds
      .map((id) => stored.tools.get(id)?.record)
      .filter((tool): tool is ToolRecord => tool !== undefined);
    return { tools, state, failure: result.error };
  }

  // The same name twice would be one id twice: keep the first, as a client calling by name would.
  const descriptors = [...new Map(result.tools.map((tool) => [tool.name, tool])).values()];
  const tools = await Promise.all(
    descriptors.map((descriptor) => {
      const id = toolIdFor(server.id, descriptor.name);
      const existing = stored.tools.get(id);
      // A cached listing was stored when it was fetched; only tools missing from the hash are written.
      if (!listing.fresh && existing) return existing.record;
      return storeDescriptor(deps, key, id, descriptor, existing, now);
    }),
  );
  const toolIds = tools.map((tool) => tool.id);
  let state = stored.state;
  if (listing.fresh || state?.status !== 'ok' || state.toolIds.join() !== toolIds.join()) {
    state = { status: 'ok', error: null, checkedAt: now, toolIds };
    await deps.redis.hset(key, catalogField, JSON.stringify(state));
  }
  return { tools, state, failure: null };
}
