import { hostname } from 'node:os';
import type { Deps } from '../../deps.ts';
import { addEntry, emptyBatch } from './outbox.ts';

type DrainerDeps = Pick<Deps, 'redis' | 'keys' | 'history' | 'logger' | 'clock' | 'env'>;

/** The consumer group every instance joins: each outbox entry goes to one of them. */
export const drainGroup = 'history';

export interface DrainerOptions {
  /** Pause between passes that found nothing. */
  idleMs?: number;
  /** Entries read (and written to PostgreSQL in one transaction) at a time, per organization. */
  batchSize?: number;
  /** An entry another consumer read this long ago without acknowledging it is taken over. */
  claimIdleMs?: number;
  /** How often a pass looks for such entries. */
  claimIntervalMs?: number;
  /** This instance's consumer name (default: host, pid and a random part). */
  consumer?: string;
}

export interface Drainer {
  /** Drains continuously until `stop`. */
  start(): void;
  /** Stops after the current pass, then drains once more: nothing settled before stays behind. */
  stop(): Promise<void>;
  /** One pass over every organization's outbox (reclaiming abandoned entries); returns entries moved. */
  drainOnce(options?: { reclaim?: boolean }): Promise<number>;
}

type StreamEntry = [id: string, fields: string[] | null];

/**
 * Moves the history outbox (one Redis stream per organization, appended by the money scripts) to
 * PostgreSQL. Every instance runs one, in the same consumer group, so they share the work; an
 * entry is acknowledged and deleted only after its batch is committed, so a crash between the two
 * leaves it pending, and another instance reclaims it (XAUTOCLAIM) and writes it again, which the
 * primary keys turn into a no-op. Redis thus keeps nothing per call once drained.
 */
export function createDrainer(deps: DrainerDeps, options: DrainerOptions = {}): Drainer {
  const idleMs = options.idleMs ?? 50;
  const batchSize = options.batchSize ?? 1000;
  const claimIdleMs = options.claimIdleMs ?? 60_000;
  const claimIntervalMs = options.claimIntervalMs ?? 15_000;
  const consumer = options.consumer ?? `${hostname()}:${process.pid}:${crypto.randomUUID().slice(0, 8)}`;
  const retentionDays = deps.env.MCPSTACK_LLM_CALL_RETENTION_DAYS;
  let lastClaim = 0;
  let lastRetention = 0;
  let running: Promise<void> | undefined;
  let stopping = false;
  let wake: (() => void) | undefined;

  async function commit(organizationId: string, key: string, entries: StreamEntry[]): Promise<number> {
    const batch = emptyBatch();
    const done: string[] = [];
    for (const [id, fields] of entries) {
      // A pending entry deleted meanwhile (another instance finished it) comes back without fields.
      if (fields === null) {
        done.push(id);
        continue;
      }
      try {
        addEntry(batch, organizationId, id, fields);
        done.push(id);
      } catch (error) {
        // Left pending (never deleted): the reconcile counts it, and an operator can repair it.
        deps.logger.error({ organizationId, entryId: id, reason: String(error) }, 'unreadable outbox entry');
      }
    }
    await deps.history.write(batch);
    if (done.length > 0) {
      await deps.redis.xack(key, drainGroup, ...done);
      await deps.redis.xdel(key, ...done);
    }
    return done.length;
  }

  async function read(key: string): Promise<StreamEntry[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        const result = (await deps.redis.xreadgroup(
          'GROUP',
          drainGroup,
          consumer,
          'COUNT',
          batchSize,
          'STREAMS',
          key,
          '>',
        )) as Array<[string, StreamEntry[]]> | null;
        return result?.[0]?.[1] ?? [];
      } catch (error) {
        if (attempt > 0 || !String(error).includes('NOGROUP')) throw error;
        // The group starts at 0: entries appended before it existed are drained too.
        await deps.redis.xgroup('CREATE', key, drainGroup, '0', 'MKSTREAM').catch((created: unknown) => {
          if (!String(created).includes('BUSYGROUP')) throw created;
        });
      }
    }
  }

  async function reclaim(organizationId: string, key: string): Promise<number> {
    let moved = 0;
    let cursor = '0-0';
    do {
      let result: [string, StreamEntry[], string[]?];
      try {
        result = (await deps.redis.xautoclaim(
          key,
          drainGroup,
          consumer,
          String(claimIdleMs),
          cursor,
          'COUNT',
          batchSize,
        )) as [string, StreamEntry[], string[]?];
      } catch (error) {
        if (String(error).includes('NOGROUP')) return moved;
        throw error;
      }
      const [next, entries] = result;
      if (entries.length > 0) moved += await commit(organizationId, key, entries);
      cursor = next;
    } while (cursor !== '0-0');
    return moved;
  }

  async function drainOrganization(organizationId: string, reclaiming: boolean): Promise<number> {
    const key = deps.keys.organization(organizationId).historyOutbox;
    let moved = reclaiming ? await reclaim(organizationId, key) : 0;
    for (;;) {
      const entries = await read(key);
      if (entries.length > 0) moved += await commit(organizationId, key, entries);
      if (entries.length < batchSize) return moved;
    }
  }

  async function applyRetention() {
    const now = deps.clock.now().getTime();
    if (retentionDays === 0 || now - lastRetention < 3_600_000) return;
    lastRetention = now;
    const dropped = await deps.history.dropLlmCallPartitionsBefore(
      new Date(now - retentionDays * 86_400_000),
    );
    if (dropped.length > 0)
      deps.logger.info({ partitions: dropped }, 'dropped LLM-call partitions past the retention');
  }

  /** Passes run one at a time: a `drainOnce` waits for the pass in flight, so it sees its writes. */
  let queue: Promise<unknown> = Promise.resolve();
  function drainOnce(pass: { reclaim?: boolean } = {}): Promise<number> {
    const run = queue.then(() => drainPass(pass));
    queue = run.catch(() => {});
    return run;
  }

  async function drainPass(pass: { reclaim?: boolean }): Promise<number> {
    const now = Date.now();
    const reclaiming = pass.reclaim ?? now - lastClaim >= claimIntervalMs;
    if (reclaiming) lastClaim = now;
    const organizations = await deps.redis.zrange(deps.keys.organizationsIndex, '0', '-1');
    let moved = 0;
    // A few organizations at a time: their streams may live on different cluster nodes.
    for (let start = 0; start < organizations.length; start += 16) {
      const counts = await Promise.all(
        organizations.slice(start, start + 16).map((id) => drainOrganization(id, reclaiming)),
      );
      moved += counts.reduce((sum, count) => sum + count, 0);
    }
    await applyRetention();
    return moved;
  }

  async function loop() {
    let failures = 0;
    while (!stopping) {
      let moved = 0;
      try {
        moved = await drainOnce();
        failures = 0;
      } catch (error) {
        // Redis or PostgreSQL away: say so once a while, and back off (up to 5 s) until it answers.
        if (failures++ % 20 === 0)
          deps.logger.warn({ reason: String(error) }, 'history drain failed; retrying');
      }
      if (moved === 0 && !stopping) {
        const pause = failures === 0 ? idleMs : Math.min(5000, idleMs * 2 ** Math.min(failures, 7));
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, pause);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    }
  }

  return {
    start() {
      running ??= loop();
    },
    async stop() {
      stopping = true;
      wake?.();
      // Redis away: the pass in flight fails on its own, and what was appended waits in Redis for
      // another instance; waiting for its commands to time out would only slow the shutdown.
      if (deps.redis.status !== 'ready') return;
      await running;
      await drainOnce({ reclaim: false }).catch((error: unknown) =>
        deps.logger.warn(
          { reason: String(error) },
          'final history drain failed; another instance will finish it',
        ),
      );
    },
    drainOnce,
  };
}
