/**
 * The credit ledger on 100,000 entries: the console's and the API's pages (keyset, newest first) and
 * the CSV of a filter, read from the history store as the routes read it, on PostgreSQL when
 * DATABASE_URL (or the machine's own server) answers, else the embedded PGlite.
 *
 * Run alone: `npm run bench -- ledger-pages`.
 */

import { availableServer, serverDatabase } from '@mcpstack/test-support/postgres';
import { emptyBatch } from '../services/chat/src/domain/history/outbox.ts';
import { newId } from '../services/chat/src/ids.ts';
import { openDatabase } from '../services/chat/src/storage/database/database.ts';
import { createHistoryStore } from '../services/chat/src/storage/database/history-store.ts';
import { describeMachine, measuredOn } from './support/machine.ts';
import { redisVersionOf } from './support/processes.ts';
import { type BenchmarkResult, type Check, checkList, table } from './support/report.ts';
import { formatInteger, formatMs, percentile } from './support/stats.ts';

export const heading = 'Ledger pages on 100,000 entries';

const entries = 100_000;
const batchSize = 5_000;
const agents = ['agent_pages0', 'agent_pages1', 'agent_pages2', 'agent_pages3', 'agent_pages4'];
const days = 60;
const pageTargetMs = 50;
const pageSize = 50;

type History = ReturnType<typeof createHistoryStore>;

/** 100,000 entries of one organization: usage debits of five agents and some purchases, over 60 days. */
async function seed(history: History, organizationId: string) {
  const start = Date.now() - days * 86_400_000;
  let balance = 10_000_000_000;
  for (let written = 0; written < entries; written += batchSize) {
    const batch = emptyBatch();
    for (let index = written; index < written + batchSize; index++) {
      const at = start + Math.floor((index * days * 86_400_000) / entries);
      const purchase = index % 97 === 0;
      const amount = purchase ? 20_000_000 : -(500 + (index % 700));
      balance += amount;
      const agentId = agents[index % agents.length] ?? null;
      batch.ledger.push({
        id: newId('ledgerEntry', at),
        organizationId,
        type: purchase ? 'purchase' : 'usage',
        amountMicros: amount,
        balanceAfterMicros: balance,
        reference: {
          agentId: purchase ? null : agentId,
          conversationId: purchase ? null : `conv-${index}`,
          callId: purchase ? null : `call_${index}`,
          stripeSessionId: purchase ? `cs_${index}` : null,
          stripeChargeId: null,
        },
        actor: purchase ? 'stripe' : `visitor:${index % 1000}`,
        reason: null,
        createdAt: new Date(at).toISOString(),
        position: { milliseconds: at, sequence: index },
      });
    }
    await history.write(batch);
  }
}

async function timed<T>(times: number[], work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await work();
  times.push(performance.now() - started);
  return result;
}

export async function runLedgerPages(log: (line: string) => void = () => {}): Promise<BenchmarkResult> {
  const machine = describeMachine(await redisVersionOf());
  const server = await availableServer();
  const database = server ? await serverDatabase(server, 'mcpstack_bench') : null;
  const history = createHistoryStore(openDatabase({ url: database?.url, dataDirectory: 'memory://' }));
  const store = database ? 'PostgreSQL' : 'PGlite (in memory)';
  try {
    await history.ready();
    const organizationId = `org_pages${Date.now().toString(36)}`;
    const seeding = performance.now();
    await seed(history, organizationId);
    log(
      `ledger-pages: ${formatInteger(entries)} entries written in ${formatMs(performance.now() - seeding)} (${store})`,
    );

    const rows: string[][] = [];
    const checks: Check[] = [];
    const measure = async (name: string, filter: Parameters<History['listLedger']>[1], pages: number) => {
      const times: number[] = [];
      let cursor: string | undefined;
      let seen = 0;
      for (let index = 0; index < pages; index++) {
        const page = await timed(times, () =>
          history.listLedger(organizationId, filter, { limit: pageSize, cursor }),
        );
        seen += page.data.length;
        if (!page.nextCursor) break;
        cursor = page.nextCursor;
      }
      rows.push([
        name,
        formatInteger(times.length),
        formatInteger(seen),
        formatMs(percentile(times, 0.5)),
        formatMs(percentile(times, 0.99)),
      ]);
      checks.push({
        name: `${name}: a page p99 ≤ ${pageTargetMs} ms`,
        passed: percentile(times, 0.99) <= pageTargetMs,
        detail: `p99 ${formatMs(percentile(times, 0.99))} over ${times.length} pages`,
        target: true,
      });
      return seen;
    };
    const to = new Date(Date.now() - 20 * 86_400_000);
    const from = new Date(to.getTime() - 7 * 86_400_000);
    await measure('newest first, every entry (the first 400 pages)', { types: null }, 400);
    await measure('one agent', { types: null, agentId: agents[2] }, 200);
    await measure('purchases only', { types: new Set(['purchase']) }, 50);
    const week = await measure(
      'one week, usage of one agent (to its end)',
      {
        types: new Set(['usage']),
        agentId: agents[1],
        from,
        to,
      },
      10_000,
    );
    checks.push({
      name: 'a filter pages to its end with every match once',
      passed: week > 0,
      detail: `${formatInteger(week)} entries in the week's pages`,
    });
    const body = [
      'Run alone: `npm run bench -- ledger-pages`.',
      '',
      measuredOn(machine),
      '',
      `${formatInteger(entries)} ledger entries of one organization (usage debits of ${agents.length} agents and a purchase every 97 entries, over ${days} days) are written to ${store} through the drainer's batch write; then the ledger is read as \`GET …/ai-credits/ledger\` and the console read it (\`HistoryStore.listLedger\`, keyset pages of ${pageSize}, newest first), page after page with each page's cursor. Times are per page, as the service sees them.`,
      '',
      table(['read', 'pages', 'entries', 'page p50', 'page p99'], rows),
      '',
      checkList(checks),
    ].join('\n');
    return { machine, heading, body, checks };
  } finally {
    await history.close();
    await database?.drop();
  }
}
