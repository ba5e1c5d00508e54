import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** What `mcpstack auth service-account login` keeps between runs. */
export interface StoredConfig {
  apiUrl?: string;
  apiKey?: string;
  /** The organization of the stored key (from whoami), the default of `--org`. */
  organizationId?: string;
}

export const defaultApiUrl = 'http://localhost:8787';

/** `$XDG_CONFIG_HOME/mcpstack/config.json`, else `~/.config/mcpstack/config.json`. */
export function configFile(environment: NodeJS.ProcessEnv = process.env): string {
  const base = environment.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'mcpstack', 'config.json');
}

function isStoredConfig(value: unknown): value is StoredConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return ['apiUrl', 'apiKey', 'organizationId'].every((field) => {
    const entry = (value as Record<string, unknown>)[field];
    return entry === undefined || typeof entry === 'string';
  });
}

export async function readStoredConfig(file = configFile()): Promise<StoredConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not valid JSON: fix it or run \`mcpstack auth logout\``);
  }
  if (!isStoredConfig(parsed))
    throw new Error(`${file} is not an mcpstack config: run \`mcpstack auth logout\``);
  return parsed;
}

/** Writes the file owner-only (0600) in an owner-only directory: it holds a secret key. */
export async function writeStoredConfig(config: StoredConfig, file = configFile()): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  // `mode` applies only when the file is created; an older file keeps its bits otherwise.
  await chmod(file, 0o600);
}

export async function removeStoredConfig(file = configFile()): Promise<boolean> {
  try {
    await rm(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** The settings of one run: flags win over the environment, the environment over the stored config. */
export interface Settings {
  apiUrl: string;
  apiKey: string | undefined;
  organizationId: string | undefined;
}

export function resolveSettings(
  flags: { apiUrl?: string | undefined; org?: string | undefined },
  stored: StoredConfig,
  environment: NodeJS.ProcessEnv = process.env,
): Settings {
  return {
    apiUrl: (flags.apiUrl || environment.MCPSTACK_API_URL || stored.apiUrl || defaultApiUrl).replace(
      /\/+$/,
      '',
    ),
    apiKey: environment.MCPSTACK_API_KEY || stored.apiKey || undefined,
    organizationId: flags.org || environment.MCPSTACK_ORG_ID || stored.organizationId || undefined,
  };
}
