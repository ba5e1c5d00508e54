import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { actingAs, createAgent } from '@mcpstack/test-support/tenants';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reserve } from '../src/domain/budgets/meter.ts';
import { budgetPeriod } from '../src/domain/budgets/periods.ts';
import { createSettleJournal, type JournalEntry } from '../src/domain/budgets/settle-journal.ts';
import { startTestService, type TestService } from './support/harness.ts';
import { settledCall } from './support/llm-calls.ts';

let service: TestService;
let directory: string;

beforeAll(async () => {
  service = await startTestService();
  directory = mkdtempSync(join(tmpdir(), 'mcpstack-journal-'));
});
afterAll(async () => {
  await service?.stop();
  rmSync(directory, { recursive: true, force: true });
});

async function metered() {
  const tenant = await service.createTenant();
  const agentId = await createAgent(service.call, actingAs(tenant, 'admin'), {
    name: 'Journaled',
    model: 'gpt-4.1-mini',
  });
  const model = service.deps.modelCatalog.get('gpt-4.1-mini');
  if (!model) throw new Error('no model');
  return {
    organizationId: tenant.organizationId,
    agentId,
    conversationId: 'conv-journaled',
    owner: { kind: 'visitor' as const, id: 'visitor-journaled' },
    model,
    resetDayOfMonthUtc: 1,
  };
}

describe('the settle journal', () => {
  it('settles the entries a dead process left, exactly once, and keeps an unreadable line for the operator', async () => {
    const context = await metered();
    const hold = await reserve(service.deps, context, 900);
    const call = settledCall(context, 700);
    const { model: _model, ...rest } = context;
    const entry: JournalEntry = { context: rest, hold: { id: hold.id, periodId: hold.period.id }, call };
    const journalDirectory = join(directory, 'dead');
    mkdirSync(journalDirectory, { recursive: true });
    // A pid no process has (the kernel's limit is below 2^22): the file of a process that died.
    const line = JSON.stringify(entry);
    writeFileSync(join(journalDirectory, 'active-4194999-0a0b0c0d.jsonl'), `${line}\n${line}\n{not json\n`);

    const journal = createSettleJournal(service.deps, journalDirectory);
    expect(await journal.replay()).toEqual({ settled: 2, pending: 0 });
    expect(await journal.replay()).toEqual({ settled: 0, pending: 0 });
    const files = readdirSync(journalDirectory);
    expect(files.filter((name) => name.startsWith('failed-'))).toHaveLength(1);
    expect(files.filter((name) => /^(active|claimed)-/.test(name))).toEqual([]);

    const keys = service.deps.keys.organization(context.organizationId);
    const spend = await service.deps.redis.hget(
      keys.agentSpend(context.agentId, budgetPeriod(new Date(), 1).id),
      'agent',
    );
    expect(spend).toBe('700');
    expect(await service.deps.redis.hget(keys.budgetReserved, 'credits')).toBe('0');
    await service.drain();
    const records = (
      await service.deps.history.listLlmCalls(context.organizationId, context.agentId, { limit: 10 })
    ).data;
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ id: call.record.id, settledBy: 'journal', costMicros: 700 });
    await journal.stop();
  });

  it('makes an append durable before it resolves, and replays its own entries', async () => {
    const context = await metered();
    const { model: _model, ...rest } = context;
    const journalDirectory = join(directory, 'own');
    const journal = createSettleJournal(service.deps, journalDirectory);
    const call = settledCall(context, 50);
    await journal.append({ context: rest, hold: null, call });
    expect(readdirSync(journalDirectory).filter((name) => name.startsWith('active-'))).toHaveLength(1);
    expect(await journal.replay()).toEqual({ settled: 1, pending: 0 });
    await service.drain();
    const records = (
      await service.deps.history.listLlmCalls(context.organizationId, context.agentId, { limit: 10 })
    ).data;
    expect(records.map((record) => record.id)).toEqual([call.record.id]);
    await journal.stop();
    expect(readdirSync(journalDirectory)).toEqual([]);
  });
});
