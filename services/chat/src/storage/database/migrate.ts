import { readdirSync, readFileSync } from 'node:fs';
import type { Database } from './database.ts';

const directory = new URL('./migrations/', import.meta.url);

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The numbered files of `migrations/` (`0001-history.sql`), in order. Forward-only: never edit one. */
export function readMigrations(): Migration[] {
  return readdirSync(directory)
    .filter((file) => /^\d{4}-[a-z0-9-]+\.sql$/.test(file))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 4)),
      name: file.slice(5, -4),
      sql: readFileSync(new URL(file, directory), 'utf8'),
    }));
}

/**
 * Applies the migrations not applied yet, each in its own transaction with its version row, under
 * an advisory lock so instances starting together apply each once. Returns the versions applied.
 */
export async function migrate(database: Database, migrations = readMigrations()): Promise<number[]> {
  await database.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  const applied: number[] = [];
  for (const migration of migrations) {
    const done = await database.transaction(async (transaction) => {
      // 0x6d637073 ("mcps"): one lock for every migrating instance, released with the transaction.
      await transaction.query('SELECT pg_advisory_xact_lock(1835233395)');
      const found = await transaction.query('SELECT 1 FROM schema_migrations WHERE version = $1', [
        migration.version,
      ]);
      if (found.length > 0) return false;
      await transaction.exec(migration.sql);
      await transaction.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
        migration.version,
        migration.name,
      ]);
      return true;
    });
    if (done) applied.push(migration.version);
  }
  return applied;
}
