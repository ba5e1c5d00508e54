/**
 * `npm run migrate`: applies the pending PostgreSQL migrations (storage/database/migrations/) to
 * DATABASE_URL, or to the embedded PGlite under MCPSTACK_DATA_DIR, and exits. The service also
 * runs them at start; this is for deploys that migrate first. Exits 78 on a bad environment.
 */
import { join } from 'node:path';
import { EnvError, parseEnv } from './env.ts';
import { openDatabase } from './storage/database/database.ts';
import { migrate, readMigrations } from './storage/database/migrate.ts';

let env: ReturnType<typeof parseEnv>;
try {
  env = parseEnv({
    MCPSTACK_ADMIN_TOKEN: 'x'.repeat(32),
    MCPSTACK_SECRET_KEY: 'x'.repeat(32),
    ...process.env,
  });
} catch (error) {
  if (!(error instanceof EnvError)) throw error;
  process.stderr.write(`${error.message}\nSee the README's Configuration section.\n`);
  process.exit(78);
}
const database = openDatabase({
  url: env.DATABASE_URL,
  dataDirectory: env.MCPSTACK_DATA_DIR.startsWith('memory://')
    ? 'memory://'
    : join(env.MCPSTACK_DATA_DIR, 'postgres'),
});
try {
  const applied = await migrate(database);
  const latest = readMigrations().at(-1)?.version ?? 0;
  process.stdout.write(
    `${database.kind}: ${applied.length === 0 ? 'up to date' : `applied ${applied.join(', ')}`} (schema version ${latest})\n`,
  );
} finally {
  await database.close();
}
