import { randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { isRedisUnavailableError } from '../../storage/redis.ts';
import { type MeterDeps, type SettledCall, settle } from './meter.ts';

/**
 * A settle Redis could not take (it was unreachable, or too slow for the answer to wait): the call's
 * record, its hold and whom it is metered against, enough to settle it later exactly as the answer
 * would have.
 */
export const journalEntry = z.object({
  context: z.object({
    organizationId: z.string(),
    agentId: z.string(),
    conversationId: z.string(),
    owner: z.object({ kind: z.enum(['visitor', 'user']), id: z.string() }),
    resetDayOfMonthUtc: z.number().int(),
  }),
  hold: z.object({ id: z.string(), periodId: z.string() }).nullable(),
  call: z.object({
    record: z.looseObject({
      id: z.string(),
      inputTokens: z.number().int(),
      outputTokens: z.number().int(),
      createdAt: z.string(),
      finishedAt: z.string(),
    }),
    costMicros: z.number().int(),
  }),
});
export type JournalEntry = z.infer<typeof journalEntry>;

export interface SettleJournal {
  /** Appends an entry and syncs it to disk before resolving: after that, the call cannot be lost. */
  append(entry: JournalEntry): Promise<void>;
  /** Settles every journaled entry Redis takes now (this process's and dead processes'). */
  replay(): Promise<{ settled: number; pending: number }>;
  /** Replays at once and then every `intervalMs` while entries wait. */
  start(intervalMs: number): void;
  stop(): Promise<void>;
}

type JournalDeps = MeterDeps & { logger: Logger };

const fileName = /^(active|claimed)-(\d+)-[0-9a-f]+\.jsonl$/;

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The local settle journal: one append-only JSON-lines file per process under
 * `MCPSTACK_DATA_DIR/settle-journal`, fsynced on every append. Replay settles each entry through the
 * settle script with `settledBy: "journal"`; the script is idempotent by call id, so an entry whose
 * first attempt did land after all is a no-op, and two processes replaying the same file change
 * nothing twice. A process replays its own entries and claims (by an atomic rename) the files of
 * processes that died. An entry Redis refuses for another reason than being away is kept in a
 * `failed-*.jsonl` file for the operator, never dropped.
 */
export function createSettleJournal(deps: JournalDeps, directory: string): SettleJournal {
  const tag = () => `${process.pid}-${randomBytes(4).toString('hex')}`;
  let active: { path: string; handle: FileHandle; lines: number } | null = null;
  // Appends and rotations run one at a time.
  let queue: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | null = null;
  let replaying: Promise<{ settled: number; pending: number }> | null = null;
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  };

  async function append(entry: JournalEntry): Promise<void> {
    await serial(async () => {
      if (!active) {
        await mkdir(directory, { recursive: true });
        const path = join(directory, `active-${tag()}.jsonl`);
        active = { path, handle: await open(path, 'a', 0o600), lines: 0 };
      }
      await active.handle.appendFile(`${JSON.stringify(entry)}\n`);
      await active.handle.datasync();
      active.lines += 1;
    });
    deps.logger.warn(
      { callId: entry.call.record.id, organizationId: entry.context.organizationId },
      'journaled an LLM call Redis could not take; it is settled when Redis answers',
    );
  }

  /** Hands this process's active file over to replay; new entries go to a new file. */
  async function rotate(): Promise<void> {
    await serial(async () => {
      if (!active || active.lines === 0) return;
      const current = active;
      active = null;
      await current.handle.close();
      await rename(current.path, join(directory, `claimed-${tag()}.jsonl`));
    });
  }

  /** The files this process may replay now: its own claimed ones, and those of dead processes. */
  async function claimable(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(directory);
    } catch {
      return [];
    }
    const mine: string[] = [];
    for (const name of names) {
      const match = fileName.exec(name);
      if (!match) continue;
      const pid = Number(match[2]);
      if (pid === process.pid) {
        if (match[1] === 'claimed') mine.push(join(directory, name));
      } else if (!processAlive(pid)) {
        const claimed = join(directory, `claimed-${tag()}.jsonl`);
        try {
          await rename(join(directory, name), claimed);
          mine.push(claimed);
        } catch {
          // another process claimed it first
        }
      }
    }
    return mine;
  }

  async function replayFile(path: string): Promise<{ settled: number; pending: number }> {
    const lines = (await readFile(path, 'utf8')).split('\n').filter((line) => line.trim() !== '');
    let settled = 0;
    const failed: string[] = [];
    for (const [index, line] of lines.entries()) {
      let entry: JournalEntry;
      try {
        entry = journalEntry.parse(JSON.parse(line));
      } catch (error) {
        deps.logger.error(
          { err: error, path },
          'a settle journal line is unreadable; kept in failed-*.jsonl',
        );
        failed.push(line);
        continue;
      }
      try {
        await settle(
          deps,
          entry.context,
          entry.hold ? { id: entry.hold.id, period: { id: entry.hold.periodId } } : null,
          entry.call as SettledCall,
          'journal',
        );
        settled += 1;
      } catch (error) {
        if (isRedisUnavailableError(error)) {
          // Still away: keep what is left of the file for the next pass.
          await writeFile(`${path}.tmp`, `${lines.slice(index).join('\n')}\n`, { mode: 0o600 });
          await rename(`${path}.tmp`, path);
          if (failed.length > 0) await keepFailed(failed);
          return { settled, pending: lines.length - index };
        }
        deps.logger.error(
          { err: error, callId: entry.call.record.id },
          'a journaled settle failed; kept in failed-*.jsonl',
        );
        failed.push(line);
      }
    }
    if (failed.length > 0) await keepFailed(failed);
    await unlink(path);
    return { settled, pending: 0 };
  }

  async function keepFailed(lines: string[]): Promise<void> {
    await writeFile(join(directory, `failed-${tag()}.jsonl`), `${lines.join('\n')}\n`, { mode: 0o600 });
  }

  async function replayAll(): Promise<{ settled: number; pending: number }> {
    await rotate();
    let settled = 0;
    let pending = 0;
    for (const path of await claimable()) {
      const result = await replayFile(path);
      settled += result.settled;
      pending += result.pending;
      if (result.pending > 0) break;
    }
    if (settled > 0) deps.logger.info({ settled, pending }, 'settled journaled LLM calls');
    return { settled, pending };
  }

  function replay(): Promise<{ settled: number; pending: number }> {
    replaying ??= replayAll().finally(() => {
      replaying = null;
    });
    return replaying;
  }

  return {
    append,
    replay,
    start(intervalMs) {
      const tick = () => {
        replay()
          .catch((error: unknown) => deps.logger.error({ err: error }, 'settle journal replay failed'))
          .finally(() => {
            if (timer) timer = setTimeout(tick, intervalMs).unref();
          });
      };
      timer = setTimeout(tick, 0).unref();
    },
    async stop() {
      if (timer) clearTimeout(timer);
      timer = null;
      await replaying?.catch(() => undefined);
      await serial(async () => {
        if (!active) return;
        await active.handle.close();
        if (active.lines === 0) await unlink(active.path).catch(() => undefined);
        active = null;
      });
    },
  };
}
