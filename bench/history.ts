/**
 * History in PostgreSQL: what a metered call leaves in Redis once drained, how far the drain lags
 * at a steady 5,000 calls/s, and how many rows a second PostgreSQL takes in.
 *
 * Run alone: `npm run bench -- history` (or `node --experimental-strip-types bench/history.ts`,
 * which prints the section instead of writing docs/benchmarks.md). The history goes to the
 * PostgreSQL at DATABASE_URL when it is set (a database of its own, dropped after), else to an
 * in-memory PGlite; the lag and the ingest are measured on both when DATABASE_URL is set.
 */
import { randomBytes } from 'node:crypto';
import { createDeps } from '@mcpstack/chat/bootstrap';
import { serverDatabase } from '@mcpstack/test-support/postgres';
import { redisVersion } from '@mcpstack/test-support/redis';
import { type MeterContext, reserve, settle } from '../services/chat/src/domain/budgets/meter.ts';
import { createDrainer } from '../services/chat/src/domain/history/drainer.ts';
import type { LlmCallRecord } from '../services/chat/src/domain/history/llm-calls.ts';
import { emptyBatch, usageEntry } from '../services/chat/src/domain/history/outbox.ts';
import { newId } from '../services/chat/src/ids.ts';
import { openDatabase } from '../services/chat/src/storage/database/database.ts';
import {
  createHistoryStore,
  type HistoryStore,
} from '../services/chat/src/storage/database/history-store.ts';
import { benchCall } from './support/calls.ts';
import { describeMachine } from './support/machine.ts';
import { grantedOrganization, workerContext } from './support/meter.ts';
import { type BenchmarkResult, type Check, passed, sectionBody, table } from './support/report.ts';
import { type BenchDeps, benchEnv, closeBenchDeps, removeKeys } from './support/service.ts';
import { formatInteger, formatMs, percentile, sleep } from './support/stats.ts';

export const heading = 'History: Redis memory per call, drain lag, PostgreSQL ingest';

/** Calls whose Redis footprint is measured (after a warm-up that creates every per-period key). */
const memoryCalls = 20_000;
const memoryTargetBytes = 150;
/** The steady rate of the lag measurement, and for how long. */
const lagRate = 5000;
const lagSeconds = 10;
const lagTargetMs = 1000;
/** Rows per batch and batches of the ingest measurement. */
const ingestBatch = 1000;
const ingestBatches = 30;

/** An organization the drainer sees (in the index), with credits that never run out. */
async function organization(deps: BenchDeps) {
  const organization = await grantedOrganization(deps, 1_000_000 * 1_000_000, 'History benchmark');
  await deps.redis.zadd(deps.keys.organizationsIndex, 0, organization.organizationId);
  // 16 users and 16 visitors in 64 conversations: the per-period counters stop growing early.
  const contexts = Array.from({ length: 64 }, (_, index) =>
    workerContext(deps, organization, index, { users: 32, visitors: 32 }),
  );
  return { ...organization, contexts };
}

async function meter(deps: BenchDeps, contexts: MeterContext[], calls: number) {
  let next = 0;
  await Promise.all(
    contexts.map(async (context) => {
      while (next < calls) {
        next++;
        const reservation = await reserve(deps, context, 2000);
        await settle(deps, context, reservation, benchCall(context, 500 + (next % 1000)));
      }
    }),
  );
}

/** Σ MEMORY USAGE of every key of the benchmark, and how many keys there are. */
async function footprint(deps: BenchDeps) {
  let bytes = 0;
  let keys = 0;
  let cursor = '0';
  do {
    const [next, found] = await deps.redis.scan(cursor, 'MATCH', `${deps.keys.prefix}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of found) {
      keys++;
      bytes += Number((await deps.redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
    }
  } while (cursor !== '0');
  return { bytes, keys };
}

async function drainAll(drain: () => Promise<number>) {
  while ((await drain()) > 0) {}
}

async function measureMemory(deps: BenchDeps, history: HistoryStore) {
  const drainer = createDrainer({ ...deps, history }, { consumer: 'bench-memory' });
  const { contexts } = await organization(deps);
  await meter(deps, contexts, 2000);
  await drainAll(() => drainer.drainOnce({ reclaim: false }));
  const before = await footprint(deps);
  await meter(deps, contexts, memoryCalls);
  const undrained = await footprint(deps);
  await drainAll(() => drainer.drainOnce({ reclaim: false }));
  // A settled call leaves nothing behind (its hold is gone with the settle): drained is all.
  const drained = await footprint(deps);
  const perCall = (after: { bytes: number }) => (after.bytes - before.bytes) / memoryCalls;
  return {
    undrained: perCall(undrained),
    drained: perCall(drained),
    keysBefore: before.keys,
    keysAfter: drained.keys,
  };
}

/** Reserve + settle at a steady rate with the drainer running; the lag of each row as committed. */
async function measureLag(deps: BenchDeps, history: HistoryStore) {
  const lags: number[] = [];
  const timed: HistoryStore = {
    ...history,
    async write(batch) {
      await history.write(batch);
      const committed = Date.now();
      for (const call of batch.calls) lags.push(committed - call.position.milliseconds);
    },
  };
  const drainer = createDrainer({ ...deps, history: timed }, { consumer: 'bench-lag' });
  const { contexts } = await organization(deps);
  await meter(deps, contexts, 1000);
  await drainAll(() => drainer.drainOnce({ reclaim: false }));
  lags.length = 0;
  drainer.start();
  const started = performance.now();
  const total = lagRate * lagSeconds;
  let issued = 0;
  const inFlight = new Set<Promise<void>>();
  while (issued < total) {
    // Issue what the rate allows by now (1 ms ticks), each call on its own context in turn.
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * lagRate));
    for (; issued < due; issued++) {
      const context = contexts[issued % contexts.length]!;
      const operation = (async () => {
        const reservation = await reserve(deps, context, 2000);
        await settle(deps, context, reservation, benchCall(context, 700));
      })();
      inFlight.add(operation);
      void operation.finally(() => inFlight.delete(operation));
    }
    await sleep(1);
  }
  await Promise.all(inFlight);
  const achieved = total / ((performance.now() - started) / 1000);
  await drainer.stop();
  return { lags, achieved };
}

/** Batches of calls with their usage debits, written as the drainer writes them. */
async function measureIngest(history: HistoryStore) {
  await history.ready();
  const organizationId = `org_ingest${randomBytes(6).toString('hex')}`;
  const context = {
    organizationId,
    agentId: 'agent_ingest',
    conversationId: 'conv-ingest',
    owner: { kind: 'user' as const, id: 'user-1' },
    model: { id: 'gpt-4.1-mini' },
  };
  const batches = Array.from({ length: ingestBatches }, (_, batchIndex) => {
    const batch = emptyBatch();
    for (let index = 0; index < ingestBatch; index++) {
      const draft = benchCall(context as never, 700);
      const call: LlmCallRecord = {
        ...draft.record,
        costMicros: draft.costMicros,
        costUsd: draft.costMicros / 1_000_000,
        reportedCostMicros: draft.costMicros,
        overageMicros: 0,
        settledBy: 'stream',
      };
      const position = { milliseconds: Date.now(), sequence: batchIndex * ingestBatch + index };
      batch.calls.push({ ...call, position, budgetPeriod: '2026-01-01' });
      batch.ledger.push({ ...usageEntry(call, newId('ledgerEntry'), 1_000_000), position });
    }
    return batch;
  });
  await history.write(batches[0]!);
  const started = performance.now();
  for (const batch of batches.slice(1)) await history.write(batch);
  const seconds = (performance.now() - started) / 1000;
  return ((ingestBatches - 1) * ingestBatch * 2) / seconds;
}

export async function runHistory(log: (line: string) => void = () => {}): Promise<BenchmarkResult> {
  const server = process.env.DATABASE_URL || undefined;
  const database = server ? await serverDatabase(server, 'mcpstack_bench') : null;
  const deps = createDeps(benchEnv(database ? { DATABASE_URL: database.url } : {}));
  const pglite = server
    ? createHistoryStore(openDatabase({ url: undefined, dataDirectory: 'memory://' }))
    : null;
  try {
    const machine = describeMachine(await redisVersion(deps.redis));
    await deps.history.ready();
    const store = deps.history.kind === 'postgres' ? 'PostgreSQL (DATABASE_URL)' : 'PGlite (in memory)';

    const memory = await measureMemory(deps, deps.history);
    log(`history: ${memory.drained.toFixed(1)} bytes/call once drained`);
    await removeKeys(deps);
    const stores = [{ store, history: deps.history }];
    if (pglite) stores.push({ store: 'PGlite (in memory)', history: pglite });
    const measured = [];
    for (const { store: name, history } of stores) {
      const lag = await measureLag(deps, history);
      await removeKeys(deps);
      const row = {
        store: name,
        lag,
        p50: percentile(lag.lags, 0.5),
        p99: percentile(lag.lags, 0.99),
        rowsPerSecond: await measureIngest(history),
      };
      log(
        `history: ${name}: drain lag p50 ${formatMs(row.p50)}, p99 ${formatMs(row.p99)} at ${formatInteger(lag.achieved)} calls/s; ingest ${formatInteger(row.rowsPerSecond)} rows/s`,
      );
      measured.push(row);
    }
    const primary = measured[0]!;
    const lag = primary.lag;
    const lagP99 = primary.p99;

    const checks: Check[] = [
      {
        name: `Redis memory per metered call once drained ≤ ${memoryTargetBytes} bytes`,
        passed: memory.drained <= memoryTargetBytes,
        detail: `${memory.drained.toFixed(1)} bytes (Σ MEMORY USAGE over ${formatInteger(memoryCalls)} calls)`,
        target: true,
      },
      {
        name: 'Redis does not grow a key per metered call',
        passed: memory.keysAfter === memory.keysBefore,
        detail: `${memory.keysBefore} keys before ${formatInteger(memoryCalls)} calls, ${memory.keysAfter} after`,
      },
      {
        name: `drain lag p99 ≤ ${lagTargetMs} ms at ${formatInteger(lagRate)} calls/s (${primary.store})`,
        passed: lagP99 <= lagTargetMs,
        detail: `p99 ${formatMs(lagP99)} over ${formatInteger(lag.lags.length)} calls at ${formatInteger(lag.achieved)} calls/s`,
        target: true,
      },
      {
        name: 'every metered call drained exactly once',
        passed: measured.every((row) => row.lag.lags.length === lagRate * lagSeconds),
        detail: measured
          .map(
            (row) =>
              `${row.store}: ${formatInteger(row.lag.lags.length)} of ${formatInteger(lagRate * lagSeconds)} rows committed`,
          )
          .join('; '),
      },
    ];
    const figures = table(
      ['figure', 'value'],
      [
        ['history store of the memory figures', store],
        ['Redis bytes per call, in the outbox (not drained yet)', `${formatInteger(memory.undrained)} bytes`],
        [
          '**Redis bytes per call, drained**',
          `**${memory.drained.toFixed(1)} bytes** (target ≤ ${memoryTargetBytes}; before this change ≈ 1,700)`,
        ],
        ['keys before / after the calls', `${memory.keysBefore} / ${memory.keysAfter}`],
        ...measured.flatMap((row) => [
          [
            `**drain lag p50 / p99**, ${row.store}, at ${formatInteger(row.lag.achieved)} calls/s for ${lagSeconds} s`,
            `**${formatMs(row.p50)} / ${formatMs(row.p99)}** (max ${formatMs(Math.max(...row.lag.lags))}; target p99 ≤ ${lagTargetMs} ms)`,
          ],
          [
            `**ingest**, ${row.store}`,
            `**${formatInteger(row.rowsPerSecond)} rows/s** (batches of ${ingestBatch} calls + ${ingestBatch} ledger entries, one transaction each, \`INSERT … SELECT unnest(…)\`)`,
          ],
        ]),
      ],
    );
    const body = sectionBody(
      'history',
      machine,
      [
        `Memory: ${formatInteger(memoryCalls)} reserve → settle calls of 64 conversations (32 users and visitors) of one agent, after a warm-up that created every per-period key; Σ \`MEMORY USAGE\` of every key of the benchmark (immune to other clients of this shared Redis, unlike \`INFO memory\`) before and after, divided by the calls. Lag: reserve → settle issued at a steady ${formatInteger(lagRate)} calls/s for ${lagSeconds} s with the drainer running in the same process (as in the service); a row's lag is the time from its outbox entry (the stream id's milliseconds, Redis's clock on this machine) to the commit of its batch in PostgreSQL. Ingest: batches written back to back as the drainer writes them.`,
        figures,
      ],
      checks,
    );
    return { machine, heading, body, checks };
  } finally {
    await closeBenchDeps(deps);
    await pglite?.close();
    await database?.drop();
  }
}

if (import.meta.main) {
  const result = await runHistory((line) => console.error(line));
  console.log(`## ${result.heading}\n\n${result.body}`);
  if (!passed(result)) process.exitCode = 1;
}
