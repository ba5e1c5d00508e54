/**
 * A load test of the chat endpoint: many visitors chatting back to back for a fixed time, over
 * loopback, against the service as a process of its own. Afterwards: no errors, no reservation
 * left, the spend counters equal the LLM-call records, and the service's memory is flat.
 *
 * Run alone: `npm run bench -- chat-load`.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { describeMachine, measuredOn } from './support/machine.ts';
import {
  createTenant,
  origin,
  redisVersionOf,
  startModelProcess,
  startServiceProcess,
  timeStream,
} from './support/processes.ts';
import { type BenchmarkResult, type Check, checkList, table } from './support/report.ts';
import { formatInteger, formatMs, percentile, sleep } from './support/stats.ts';

export const heading = 'Chat load test';

const visitors = 100;
const durationMs = 30_000;
const questions = [
  'Hello there!',
  'What can you do for me?',
  'Tell me something nice.',
  'How does this work?',
];

/** Resident memory of the service process, from its own Prometheus metrics. */
async function serviceRssBytes(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = /^mcpstack_process_resident_memory_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text);
  return match?.[1] ? Number(match[1]) : Number.NaN;
}

/** Every LLM-call record of the agent, from the service's log (PostgreSQL, drained meanwhile). */
async function llmCallRecords(serviceUrl: string, organizationId: string, agentId: string, key: string) {
  const records: { id: string; costUsd: number }[] = [];
  let cursor: string | null = null;
  do {
    const query = `limit=200${cursor ? `&cursor=${cursor}` : ''}`;
    const response = await fetch(
      `${serviceUrl}/api/v1/organizations/${organizationId}/agents/${agentId}/usage/llm-calls?${query}`,
      { headers: { authorization: `Bearer ${key}` } },
    );
    const page = (await response.json()) as {
      data: { id: string; costUsd: number }[];
      nextCursor: string | null;
    };
    records.push(...page.data);
    cursor = page.nextCursor;
  } while (cursor);
  return records;
}

export async function runChatLoad(log: (line: string) => void = () => {}): Promise<BenchmarkResult> {
  const model = await startModelProcess({ chunkDelayMs: 5 });
  const service = await startServiceProcess(model.url);
  try {
    const tenant = await createTenant(service);
    const memory: { atMs: number; rss: number }[] = [];
    const turns: number[] = [];
    const firstTokens: number[] = [];
    const failures: string[] = [];
    const started = performance.now();
    let running = true;
    const sampler = (async () => {
      while (running) {
        memory.push({ atMs: performance.now() - started, rss: await serviceRssBytes(service.url) });
        await sleep(1000);
      }
    })();
    await Promise.all(
      Array.from({ length: visitors }, async (_, index) => {
        const visitorId = `visitor-load-${index}-${randomBytes(3).toString('hex')}`;
        let conversation = `conv-${randomBytes(8).toString('hex')}`;
        let turn = 0;
        while (performance.now() - started < durationMs) {
          // A conversation of a few turns, then a new one: history grows, then starts over.
          if (turn > 0 && turn % 4 === 0) conversation = `conv-${randomBytes(8).toString('hex')}`;
          turn += 1;
          const result = await timeStream(
            `${service.url}/api/v1/chat`,
            { authorization: `Bearer ${tenant.publicKey}`, origin },
            {
              id: conversation,
              messages: [
                {
                  id: `m${turn}`,
                  role: 'user',
                  parts: [{ type: 'text', text: questions[turn % questions.length] }],
                },
              ],
              visitorId,
            },
            (line) => line.includes('"type":"text-delta"'),
          ).catch((error: unknown) => ({ status: 0, ok: false, firstTokenMs: null, totalMs: 0, error }));
          if (!result.ok) failures.push(`status ${result.status}`);
          else {
            turns.push(result.totalMs);
            if (result.firstTokenMs !== null) firstTokens.push(result.firstTokenMs);
          }
        }
      }),
    );
    running = false;
    await sampler;
    const elapsed = performance.now() - started;
    log(`${turns.length} turns in ${Math.round(elapsed)} ms, ${failures.length} failed`);

    // The books, straight from Redis, once every settle has landed.
    await sleep(500);
    const redis = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379');
    const base = `${service.prefix}{${tenant.organizationId}}`;
    const period = new Date().toISOString().slice(0, 8).concat('01');
    const [reserved, spend] = await Promise.all([
      redis.hgetall(`${base}:budget:reserved`),
      redis.hgetall(`${base}:agent:${tenant.agentId}:spend:${period}`),
    ]);
    // The log is PostgreSQL's: wait (10 s at most) for the drain to bring every turn's call.
    let records = await llmCallRecords(service.url, tenant.organizationId, tenant.agentId, tenant.adminKey);
    for (let waited = 0; records.length < turns.length && waited < 10_000; waited += 200) {
      await sleep(200);
      records = await llmCallRecords(service.url, tenant.organizationId, tenant.agentId, tenant.adminKey);
    }
    const callIds = records.map((record) => record.id);
    const recordsMicros = records.reduce((sum, record) => sum + Math.round(record.costUsd * 1e6), 0);
    // Open holds (a settled hold leaves only its id for 10 s, without data).
    const openReservations = await redis.hlen(`${base}:budget:reservation-data`);
    redis.disconnect();

    const held = Object.values(reserved).reduce((sum, value) => sum + Number(value), 0);
    const spent = Number(spend.agent ?? 0);
    // The heap grows to its working size in the first seconds (V8 sizes it to the load): compare
    // from the middle of the run, once warm, to the end.
    const middle = memory.find((sample) => sample.atMs >= durationMs / 2)?.rss ?? Number.NaN;
    const last = memory.at(-1)?.rss ?? Number.NaN;
    const growth = (last - middle) / middle;
    const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
    const checks: Check[] = [
      {
        name: 'no failed turn',
        passed: failures.length === 0,
        detail: `${failures.length} of ${turns.length + failures.length}`,
      },
      {
        name: 'no reservation left',
        passed: held === 0 && openReservations === 0,
        detail: `${held} micro-USD held, ${openReservations} open`,
      },
      {
        name: 'spend counter = Σ LLM-call records, one record per turn',
        passed: spent === recordsMicros && callIds.length === turns.length,
        detail: `${spent} = ${recordsMicros} micro-USD; ${callIds.length} records for ${turns.length} turns`,
      },
      {
        name: 'memory flat: RSS grows < 10 % from the middle of the run to the end',
        passed: growth < 0.1,
        detail: `${mib(middle)} → ${mib(last)} (${(growth * 100).toFixed(1)} %)`,
      },
    ];
    const machine = describeMachine(await redisVersionOf());
    const body = [
      'Run alone: `npm run bench -- chat-load`.',
      '',
      measuredOn(machine),
      '',
      `${visitors} visitors chat back to back for ${durationMs / 1000} s (conversations of 4 turns, so the server's history grows and starts over) against the service as a process of its own, the local model streaming its answers in pieces 5 ms apart. Memory is the service's resident set, from its \`/metrics\`, once a second; V8 grows the heap to the load's working size in the first seconds (heap used then saws between collections without growing), so flatness is judged from the middle of the run.`,
      '',
      table(
        [
          'turns',
          'turns/s',
          'turn p50 / p99',
          'first token p50 / p99',
          'failed',
          'service RSS (middle → end)',
        ],
        [
          [
            formatInteger(turns.length),
            (turns.length / (elapsed / 1000)).toFixed(1),
            `${formatMs(percentile(turns, 0.5))} / ${formatMs(percentile(turns, 0.99))}`,
            `${formatMs(percentile(firstTokens, 0.5))} / ${formatMs(percentile(firstTokens, 0.99))}`,
            String(failures.length),
            `${mib(middle)} → ${mib(last)}`,
          ],
        ],
      ),
      '',
      checkList(checks),
    ].join('\n');
    return { machine, heading, body, checks };
  } finally {
    // Stopping removes every key the service wrote.
    await service.stop();
    await model.stop();
  }
}
