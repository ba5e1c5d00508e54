import { createTestDatabase, type TestDatabase } from '@mcpstack/test-support/postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../src/storage/database/database.ts';
import { migrate, readMigrations } from '../src/storage/database/migrate.ts';

// PGlite in memory, or a database of its own on the PostgreSQL at DATABASE_URL (CI runs both).
let testDatabase: TestDatabase;
let database: Database;

beforeAll(async () => {
  testDatabase = await createTestDatabase();
  database = openDatabase({ url: testDatabase.url, dataDirectory: 'memory://' });
});

afterAll(async () => {
  await database?.close();
  await testDatabase?.drop();
});

describe('schema migrations', () => {
  it('numbers its files from 0001 without gaps', () => {
    const versions = readMigrations().map((migration) => migration.version);
    expect(versions).toEqual(versions.map((_, index) => index + 1));
  });

  it('applies each migration once, in order, and only the new ones on the next start', async () => {
    const migrations = readMigrations();
    expect(await migrate(database, migrations)).toEqual(migrations.map((migration) => migration.version));
    expect(await migrate(database, migrations)).toEqual([]);
    // Instances starting together: the advisory lock lets one apply, the others find it applied.
    expect((await Promise.all([migrate(database), migrate(database)])).flat()).toEqual([]);

    const next = migrations.length + 1;
    const later = [
      ...migrations,
      {
        version: next,
        name: 'later',
        sql: 'CREATE TABLE later_one (id text PRIMARY KEY); CREATE TABLE later_two (id text)',
      },
    ];
    expect(await migrate(database, later)).toEqual([next]);
    const applied = await database.query<{ version: number; name: string }>(
      'SELECT version, name FROM schema_migrations ORDER BY version',
    );
    expect(applied.at(-1)).toEqual({ version: next, name: 'later' });
    expect(applied).toHaveLength(next);
  });

  it('rolls a failing migration back whole, leaving it to apply on the next start', async () => {
    const migrations = readMigrations();
    const broken = {
      version: 900,
      name: 'broken',
      sql: 'CREATE TABLE half_done (id text); SELECT missing_column FROM half_done',
    };
    await expect(migrate(database, [...migrations, broken])).rejects.toThrow(/missing_column/);
    const tables = await database.query("SELECT 1 FROM pg_tables WHERE tablename = 'half_done'");
    expect(tables).toEqual([]);
    const fixed = { ...broken, sql: 'CREATE TABLE half_done (id text)' };
    expect(await migrate(database, [...migrations, fixed])).toEqual([900]);
  });
});
