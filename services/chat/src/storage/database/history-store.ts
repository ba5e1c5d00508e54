import type { HistoryBatch } from '../../domain/history/outbox.ts';
import type { Database, Queryable } from './database.ts';
import {
  insertLedgerEntries,
  ledgerTotals,
  listLedgerEntries,
  paymentEntries,
} from './ledger-entries-table.ts';
import { llmCallPartitions } from './llm-call-partitions.ts';
import { callGroups, insertLlmCalls, listLlmCalls, monthlySpend } from './llm-calls-table.ts';
import { migrate } from './migrate.ts';
import { insertStripeEvents, stripeEvent } from './stripe-events-table.ts';
import { agentUsers, usageByDay, usageTotals, userSpendRanking } from './usage-reports.ts';

/** A query of one of the tables' modules, asked of the store: the database is the store's own. */
type StoreQuery<Query> = Query extends (database: Queryable, ...args: infer Args) => infer Result
  ? (...args: Args) => Result
  : never;

/**
 * The history in PostgreSQL, behind the few questions the service asks of it. Writes come only
 * from the drainer and are idempotent (ids are primary keys); reads page by id (time-sortable),
 * newest first, with an index for every filter. Each table's queries live in a module of its own
 * (`ledger-entries-table.ts`, `llm-calls-table.ts`, `stripe-events-table.ts`, `usage-reports.ts`),
 * documented there.
 */
export interface HistoryStore {
  readonly kind: Database['kind'];
  /** The database itself, for operators' scripts and tests; the service asks only the methods. */
  readonly database: Database;
  /** Applies pending migrations; every other method waits for it. */
  ready(): Promise<void>;
  /** Writes one drained batch in one transaction; rows already written are skipped. */
  write(batch: HistoryBatch): Promise<void>;
  listLedger: StoreQuery<typeof listLedgerEntries>;
  listLlmCalls: StoreQuery<typeof listLlmCalls>;
  ledgerTotals: StoreQuery<typeof ledgerTotals>;
  paymentEntries: StoreQuery<typeof paymentEntries>;
  callGroups: StoreQuery<typeof callGroups>;
  monthlySpend: StoreQuery<typeof monthlySpend>;
  usageTotals: StoreQuery<typeof usageTotals>;
  usageByDay: StoreQuery<typeof usageByDay>;
  userSpendRanking: StoreQuery<typeof userSpendRanking>;
  agentUsers: StoreQuery<typeof agentUsers>;
  stripeEvent: StoreQuery<typeof stripeEvent>;
  /** Drops the monthly LLM-call partitions wholly older than `cutoff`; returns their names. */
  dropLlmCallPartitionsBefore(cutoff: Date): Promise<string[]>;
  close(): Promise<void>;
}

export function createHistoryStore(database: Database): HistoryStore {
  let migrated: Promise<void> | undefined;
  const ready = () => {
    migrated ??= migrate(database).then(() => undefined);
    return migrated;
  };
  const partitions = llmCallPartitions(database);
  /** The query, asked of this database once the migrations have run. */
  const afterMigrations =
    <Args extends unknown[], Result>(query: (database: Queryable, ...args: Args) => Promise<Result>) =>
    async (...args: Args): Promise<Result> => {
      await ready();
      return query(database, ...args);
    };

  return {
    kind: database.kind,
    database,
    ready,

    async write(batch) {
      await ready();
      for (const call of batch.calls) await partitions.ensure(new Date(call.createdAt));
      await database.transaction(async (transaction) => {
        await insertLedgerEntries(transaction, batch.ledger);
        await insertLlmCalls(transaction, batch.calls);
        await insertStripeEvents(transaction, batch.stripeEvents);
      });
    },

    listLedger: afterMigrations(listLedgerEntries),
    listLlmCalls: afterMigrations(listLlmCalls),
    ledgerTotals: afterMigrations(ledgerTotals),
    paymentEntries: afterMigrations(paymentEntries),
    callGroups: afterMigrations(callGroups),
    monthlySpend: afterMigrations(monthlySpend),
    usageTotals: afterMigrations(usageTotals),
    usageByDay: afterMigrations(usageByDay),
    userSpendRanking: afterMigrations(userSpendRanking),
    agentUsers: afterMigrations(agentUsers),
    stripeEvent: afterMigrations(stripeEvent),

    async dropLlmCallPartitionsBefore(cutoff) {
      await ready();
      return partitions.dropBefore(cutoff);
    },

    close: () => database.close(),
  };
}
