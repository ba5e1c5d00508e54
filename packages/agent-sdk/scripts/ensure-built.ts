import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const outputs = [
  'dist/agent-sdk.iife.js',
  'dist/index.js',
  'dist/client.js',
  'dist/react.js',
  'dist/types/index.d.ts',
].map((file) => join(packageDir, file));
const inputs = ['src', 'vite.config.ts', 'package.json', 'tsconfig.json', 'tsconfig.build.json'];

function newestInput(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestInput(join(path, name))));
}

function isStale(): boolean {
  const built = outputs.map((file) => {
    try {
      return statSync(file).mtimeMs;
    } catch {
      return 0;
    }
  });
  const oldestOutput = Math.min(...built);
  return oldestOutput === 0 || inputs.some((input) => newestInput(join(packageDir, input)) > oldestOutput);
}

/**
 * Builds the widget when `dist/` is missing or older than its sources, so `npm test` passes on a
 * fresh clone (CI builds before testing; then this does nothing). Several vitest projects call it
 * at once, so a lock directory lets one build while the others wait.
 */
export function ensureWidgetBuilt(): void {
  if (!isStale()) return;
  const lock = join(packageDir, 'dist.lock');
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`${lock} is held for too long: remove it if no build runs`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    if (isStale()) {
      // vitest sets NODE_ENV=test, which would make Vite build for development (unminified CSS).
      const env = { ...process.env, NODE_ENV: 'production' };
      execFileSync('npm', ['run', 'build'], { cwd: packageDir, stdio: 'inherit', env });
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
