import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The real binary, as `npm exec mcpstack` and an installed package run it. */
export const binary = fileURLToPath(new URL('../../bin/mcpstack.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout as bytes, for byte-for-byte comparisons. */
  bytes: Buffer;
}

/**
 * Runs `mcpstack` as a subprocess with a clean environment: only PATH, its own config directory
 * (XDG_CONFIG_HOME) and what the test passes. The machine's MCPSTACK_* variables never leak in.
 */
export function createCli(options: { apiUrl: string }) {
  let configHome: string | undefined;
  return {
    async setup(): Promise<string> {
      configHome = await mkdtemp(join(tmpdir(), 'mcpstack-cli-'));
      return configHome;
    },
    async cleanup(): Promise<void> {
      if (configHome) await rm(configHome, { recursive: true, force: true });
    },
    configFile(): string {
      if (!configHome) throw new Error('call setup() first');
      return join(configHome, 'mcpstack', 'config.json');
    },
    run(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
      if (!configHome) throw new Error('call setup() first');
      return new Promise((resolve) => {
        execFile(
          process.execPath,
          [binary, ...args],
          {
            env: {
              PATH: process.env.PATH ?? '',
              HOME: configHome,
              XDG_CONFIG_HOME: configHome,
              MCPSTACK_API_URL: options.apiUrl,
              ...env,
            },
            encoding: 'buffer',
            maxBuffer: 64 * 1024 * 1024,
          },
          (error, stdout, stderr) => {
            const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
            resolve({
              code,
              stdout: stdout.toString('utf8'),
              stderr: stderr.toString('utf8'),
              bytes: stdout,
            });
          },
        );
      });
    },
  };
}
