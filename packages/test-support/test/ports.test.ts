import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { listen } from '../src/http-server.ts';
import { freePort, freePortOutsideEphemeralRange } from '../src/ports.ts';

describe('ports', () => {
  it('hands out a port nothing listens on, and refuses one that is taken', async () => {
    const server = await listen(createServer((_request, response) => response.end('taken')));
    try {
      const port = await freePort();
      expect(port).not.toBe(server.port);
      expect(await freePort(port)).toBe(port);
      await expect(freePort(server.port)).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await server.close();
    }
  });

  it('picks a restartable port below the kernel’s ephemeral range', async () => {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const port = await freePortOutsideEphemeralRange();
    expect(port).toBeGreaterThanOrEqual(20_000);
    expect(port).toBeLessThan(low);
  });

  it('serves on port 0 and closes even with a keep-alive connection open', async () => {
    const server = await listen(createServer((_request, response) => response.end('hello')));
    const response = await fetch(`${server.origin}/`, { headers: { connection: 'keep-alive' } });
    expect(await response.text()).toBe('hello');
    await server.close();
    await expect(fetch(`${server.origin}/`)).rejects.toThrow();
  });
});
