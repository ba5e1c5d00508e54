import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export async function freePort(port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A free port below the kernel's ephemeral range, for a server that restarts on the same port: while
 * it is down, no other process's port-0 listener or outgoing connection can be handed that port.
 */
export async function freePortOutsideEphemeralRange(): Promise<number> {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    // not Linux: the IANA range starts at 49152, Linux's default at 32768; stay below both
  }
  const floor = 20_000;
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = floor + Math.floor(Math.random() * (low - floor));
    try {
      return await freePort(port);
    } catch {
      // taken: draw again
    }
  }
  throw new Error(`no free port between ${floor} and ${low}`);
}

export async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 5000,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export interface LocalRedis {
  url: string;
  port: number;
  directory: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Runs redis-server on a port and directory (nothing kept on disk unless `extraArgs` say so) and
 * resolves once it answers. Fault tests restart one on the same port and directory.
 */
export async function spawnRedisServer(
  port: number,
  directory: string,
  extraArgs: string[] = [],
): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      directory,
      '--save',
      '',
      '--appendonly',
      'no',
      ...extraArgs,
    ],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (error) =>
      reject(new Error(`Could not start redis-server (is it installed?): ${error.message}`)),
    );
    // It exits at once when it cannot listen (the port taken meanwhile): say so, not a timeout.
    child.once('exit', (code) => reject(new Error(`redis-server on port ${port} exited with code ${code}`)));
  });
  failed.catch(() => undefined);
  // Polls PING; generous, as a loaded machine can be slow to start a process.
  const deadline = Date.now() + 30_000;
  while (!(await Promise.race([redisAnswers(url), failed]))) {
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return child;
}

/** Starts a private redis-server on a free port in a temp dir (for CI without Redis, and fault tests). */
export async function startRedisServer(extraArgs: string[] = []): Promise<LocalRedis> {
  const port = await freePort();
  const directory = mkdtempSync(join(tmpdir(), 'mcpstack-redis-'));
  const child = await spawnRedisServer(port, directory, extraArgs);
  const url = `redis://127.0.0.1:${port}`;
  return {
    url,
    port,
    directory,
    process: child,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
