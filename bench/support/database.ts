import pg from 'pg';
import { serverDatabase as databaseOn } from '../../services/chat/test/support/database.ts';

/** A database of the benchmark's own on the server at `server`, dropped by `drop`. */
export const serverDatabase = (server: string) => databaseOn(server, 'mcpstack_bench');

/** A PostgreSQL server to use: DATABASE_URL, else the machine's own on 127.0.0.1:5432 when it answers. */
export async function availableServer(): Promise<string | null> {
  const candidate = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  const client = new pg.Client({ connectionString: candidate, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return candidate;
  } catch {
    return null;
  } finally {
    await client.end().catch(() => undefined);
  }
}
