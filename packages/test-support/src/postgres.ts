import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface ThrowawayDatabase {
  /** The database's URL: the server's, with its own name in the path. */
  url: string;
  drop(): Promise<void>;
}

/** A randomly named database on the PostgreSQL server at `server` (`<prefix>_<hex>`), dropped by `drop`. */
export async function serverDatabase(server: string, prefix: string): Promise<ThrowawayDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: server });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

export interface TestDatabase {
  /** DATABASE_URL for the service: undefined means the embedded PGlite, in memory. */
  url: string | undefined;
  drop(): Promise<void>;
}

/**
 * A database of the test's own. With DATABASE_URL set (CI's PostgreSQL run), a randomly named
 * database on that server, dropped afterwards; without it, nothing to create: the service opens an
 * in-memory PGlite of its own (MCPSTACK_DATA_DIR=memory://).
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const server = process.env.DATABASE_URL;
  if (!server) return { url: undefined, drop: async () => {} };
  return serverDatabase(server, 'mcpstack_test');
}

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
