import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../src/poll.ts';
import { nodeCommand, spawnProcess, stopProcess, untilReady } from '../src/processes.ts';

describe('waitFor', () => {
  it('resolves once the check holds, polling rather than waiting a fixed time', async () => {
    let checks = 0;
    await waitFor(() => ++checks === 3, { what: 'the third check', intervalMs: 1 });
    expect(checks).toBe(3);
  });

  it('times out naming what it waited for, with the detail', async () => {
    await expect(
      waitFor(() => false, {
        what: 'a state that never comes',
        timeoutMs: 20,
        detail: () => 'last seen: nothing',
      }),
    ).rejects.toThrow(/waiting for a state that never comes:\nlast seen: nothing/);
  });
});

describe('untilReady', () => {
  it('gives up at once, with what the process wrote, when it exits before it is ready', async () => {
    const spawned = spawnProcess([process.execPath, '-e', 'console.error("bad config"); process.exit(78)']);
    const started = Date.now();
    await expect(untilReady(spawned, () => false, { what: 'the child', timeoutMs: 50_000 })).rejects.toThrow(
      /the child exited early \(78\):\nbad config/,
    );
    expect(Date.now() - started).toBeLessThan(40_000);
  });

  it('says the command could not start when it is not installed', async () => {
    const spawned = spawnProcess(['mcpstack-no-such-command']);
    await expect(untilReady(spawned, () => false, { what: 'the tool' })).rejects.toThrow(
      /Could not start the tool \(is it installed\?\)/,
    );
    expect(await spawned.exited).toBeNull();
  });

  it('runs a TypeScript file as npm start does, and stopProcess ends it with SIGTERM', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'test-support-'));
    const file = join(directory, 'main.ts');
    writeFileSync(file, 'const word: string = "ready";\nconsole.log(word);\nsetInterval(() => {}, 1000);\n');
    try {
      const spawned = spawnProcess(nodeCommand(file));
      await untilReady(spawned, () => spawned.stdout.join('').includes('ready'), { what: 'the child' });
      expect(await stopProcess(spawned)).toBeNull();
      expect(spawned.child.signalCode).toBe('SIGTERM');
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
