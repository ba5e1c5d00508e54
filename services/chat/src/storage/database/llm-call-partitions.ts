import type { Queryable } from './database.ts';

const monthName = (at: Date) => `${at.getUTCFullYear()}_${String(at.getUTCMonth() + 1).padStart(2, '0')}`;
const partitionPattern = /^llm_calls_p(\d{4})_(\d{2})$/;

/** Postgres error codes of a partition another instance created at the same moment. */
const alreadyExists = new Set(['42P07', '23505', '42P17']);

/** The monthly partitions of `llm_calls`: created as calls arrive, dropped past retention. */
export interface LlmCallPartitions {
  /** Creates the partition of `at`'s month unless this instance already knows it. */
  ensure(at: Date): Promise<void>;
  /** Drops the partitions wholly older than `cutoff`; returns their names. */
  dropBefore(cutoff: Date): Promise<string[]>;
}

export function llmCallPartitions(database: Queryable): LlmCallPartitions {
  const known = new Set<string>();
  return {
    async ensure(at) {
      const name = monthName(at);
      if (known.has(name)) return;
      const start = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
      const end = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
      try {
        await database.exec(
          `CREATE TABLE IF NOT EXISTS llm_calls_p${name} PARTITION OF llm_calls FOR VALUES FROM ('${start.toISOString()}') TO ('${end.toISOString()}')`,
        );
      } catch (error) {
        if (!alreadyExists.has((error as { code?: string }).code ?? '')) throw error;
      }
      known.add(name);
    },

    async dropBefore(cutoff) {
      const rows = await database.query<{ name: string }>(
        `SELECT child.relname AS name FROM pg_inherits
         JOIN pg_class child ON child.oid = pg_inherits.inhrelid
         JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
         WHERE parent.relname = 'llm_calls'`,
      );
      const dropped: string[] = [];
      for (const { name } of rows) {
        const match = partitionPattern.exec(name);
        if (!match) continue;
        const end = Date.UTC(Number(match[1]), Number(match[2]), 1);
        if (end > cutoff.getTime()) continue;
        await database.exec(`DROP TABLE IF EXISTS ${name}`);
        known.delete(`${match[1]}_${match[2]}`);
        dropped.push(name);
      }
      return dropped;
    },
  };
}
