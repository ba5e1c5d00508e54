import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { type WaitOptions, waitFor } from './poll.ts';

/** A child process and what it has written so far. */
export interface Spawned {
  child: ChildProcess;
  /** Chunks of stdout (empty when it was dropped, `stdout: 'ignore'`). */
  stdout: string[];
  stderr: string[];
  /** Both streams, chunk by chunk, in the order they came. */
  output: string[];
  /** The exit code (null when a signal ended it, or when it never started). */
  exited: Promise<number | null>;
  /** Why it could not be started (the command missing, say), once `spawn` says so. */
  startError(): Error | undefined;
}

export interface SpawnOptions {
  /** The child's whole environment; by default this process's. */
  env?: Record<string, string | undefined>;
  /** Pins the child to this CPU with `taskset -c` (see `tasksetAvailable`). */
  cpu?: number;
  /** Drop stdout instead of keeping it (a benchmark's service at full load). */
  stdout?: 'pipe' | 'ignore';
}

const stripTypes = ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];

/** Node running a TypeScript file as `npm start` does, with type stripping. */
export function nodeCommand(file: string, nodeFlags: readonly string[] = []): string[] {
  return [process.execPath, ...nodeFlags, ...stripTypes, file];
}

/** Whether `taskset` (util-linux) can pin processes here. */
export function tasksetAvailable(): boolean {
  return spawnSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' }).status === 0;
}

export function spawnProcess(command: readonly string[], options: SpawnOptions = {}): Spawned {
  // taskset execs the command in its own process, so the child's pid is the command's (for /proc/<pid>/stat).
  const full = options.cpu === undefined ? command : ['taskset', '-c', String(options.cpu), ...command];
  const [file, ...args] = full;
  if (file === undefined) throw new Error('spawnProcess: an empty command');
  const child = spawn(file, args, {
    env: options.env as NodeJS.ProcessEnv | undefined,
    stdio: ['ignore', options.stdout ?? 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const output: string[] = [];
  let startError: Error | undefined;
  child.stdout?.on('data', (chunk) => {
    stdout.push(String(chunk));
    output.push(String(chunk));
  });
  child.stderr?.on('data', (chunk) => {
    stderr.push(String(chunk));
    output.push(String(chunk));
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', (error) => {
      startError = error;
      resolve(null);
    });
  });
  return { child, stdout, stderr, output, exited, startError: () => startError };
}

/**
 * Polls `ready` until it holds; gives up at once, with what the process wrote, when it exits or
 * cannot start. The name in messages is `options.what`.
 */
export async function untilReady(
  spawned: Spawned,
  ready: () => boolean | Promise<boolean>,
  options: WaitOptions,
): Promise<void> {
  const written = () => spawned.output.join('');
  await waitFor(
    async () => {
      const startError = spawned.startError();
      if (startError)
        throw new Error(`Could not start ${options.what} (is it installed?): ${startError.message}`);
      if (spawned.child.exitCode !== null || spawned.child.signalCode !== null) {
        throw new Error(
          `${options.what} exited early (${spawned.child.exitCode ?? spawned.child.signalCode}):\n${written()}`,
        );
      }
      return ready();
    },
    { detail: written, ...options },
  );
}

/** Whether a GET of `url` answers 2xx (false while nothing listens). */
export async function answersOk(url: string): Promise<boolean> {
  try {
    return (await fetch(url)).ok;
  } catch {
    return false;
  }
}

/**
 * Sends `signal` (a graceful SIGTERM by default) unless the process already ended or was sent one,
 * and resolves with its exit code once it exited.
 */
export async function stopProcess(
  spawned: Spawned,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<number | null> {
  const { child } = spawned;
  if (child.exitCode === null && child.signalCode === null && !child.killed && !spawned.startError()) {
    child.kill(signal);
  }
  return spawned.exited;
}
