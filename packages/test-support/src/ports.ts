import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * A port on 127.0.0.1 that nothing listens on now (the kernel's pick), or `port` itself when it is
 * free (rejects when taken). For a child process that must be told its port; a server of this
 * process listens on port 0 instead (`listen` in http-server.ts).
 */
export function freePort(port = 0): Promise<number> {
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
