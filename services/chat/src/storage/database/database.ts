import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';

/** What a repository needs of PostgreSQL: parameterized queries, and a transaction. */
export interface Queryable {
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Runs several statements separated by semicolons, without parameters (a migration file). */
  exec(sql: string): Promise<void>;
}

/**
 * PostgreSQL, either a real server (`DATABASE_URL`, through node-postgres' pool) or an embedded
 * PGlite (PostgreSQL compiled to WebAssembly, in this process) under a data directory. Both speak
 * the same SQL, so the repositories and the migrations are written once.
 */
export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (transaction: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** postgres://… for a real server; undefined for the embedded PGlite. */
  url: string | undefined;
  /** PGlite's directory (`memory://` keeps it in memory: tests). */
  dataDirectory: string;
}

export function openDatabase(options: DatabaseOptions): Database {
  return options.url ? openPostgres(options.url) : openPglite(options.dataDirectory);
}

// node-postgres answers int8 (bigint) columns as strings, PGlite as numbers: money is integer
// micro-USD well inside 2^53, so both become numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

function openPostgres(url: string): Database {
  const pool = new pg.Pool({ connectionString: url, max: 8, idleTimeoutMillis: 30_000 });
  // An idle client's error (the server restarted) must not crash the process: the next query fails.
  pool.on('error', () => {});
  return {
    kind: 'postgres',
    async query(text, params) {
      return (await pool.query(text, params as unknown[])).rows;
    },
    async transaction(work) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await work({
          query: async (text, params) => (await client.query(text, params as unknown[])).rows,
          exec: async (sql) => {
            await client.query(sql);
          },
        });
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    async exec(sql) {
      await pool.query(sql);
    },
    close: () => pool.end(),
  };
}

function openPglite(dataDirectory: string): Database {
  // Opened on first use: a command that never asks (a benchmark, a usage error) pays nothing.
  let opened: PGlite | undefined;
  const database = () => {
    if (!opened) {
      if (!dataDirectory.startsWith('memory://')) mkdirSync(dataDirectory, { recursive: true });
      opened = new PGlite(dataDirectory);
    }
    return opened;
  };
  let closed: Promise<void> | undefined;
  return {
    kind: 'pglite',
    async query(text, params) {
      return (await database().query(text, params as unknown[])).rows as never;
    },
    transaction(work) {
      return database().transaction((transaction) =>
        work({
          query: async (text, params) => (await transaction.query(text, params as unknown[])).rows as never,
          exec: async (sql) => {
            await transaction.exec(sql);
          },
        }),
      );
    },
    async exec(sql) {
      await database().exec(sql);
    },
    close() {
      closed ??= opened ? opened.close() : Promise.resolve();
      return closed;
    },
  };
}
