import { randomBytes } from 'node:crypto';
import pg from 'pg';

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

/** A randomly named database on the PostgreSQL server at `server` (tests, benchmarks), dropped by `drop`. */
export async function serverDatabase(
  server: string,
  prefix: string,
): Promise<{ url: string; drop(): Promise<void> }> {
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
