import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const inputs = ['src', 'index.html', 'vite.config.ts', 'package.json'];

function newest(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
}

/**
 * Builds the console when `dist/` is missing or older than its sources, so the browser tests pass
 * on a fresh clone (CI builds first; then this does nothing). Only the e2e project calls it.
 */
export function ensureConsoleBuilt(): void {
  let built = 0;
  try {
    built = statSync(join(packageDir, 'dist/index.html')).mtimeMs;
  } catch {
    // never built
  }
  if (built > 0 && inputs.every((input) => newest(join(packageDir, input)) <= built)) return;
  // vitest sets NODE_ENV=test, which would make Vite build for development.
  execFileSync('npm', ['run', 'build'], {
    cwd: packageDir,
    stdio: 'inherit',
    env: { ...process.env, NODE_ENV: 'production' },
  });
}
