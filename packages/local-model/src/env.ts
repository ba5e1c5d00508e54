/** The CLI's environment: every variable optional, every value checked, one message per mistake. */
import type { LocalModelOptions } from './server.ts';

export class EnvError extends Error {
  override name = 'EnvError';
}

/** `LOCAL_MODEL_PORT`'s default: next to Ollama's 11434, so both can run. */
export const DEFAULT_PORT = 11435;

function nonNegativeInteger(env: NodeJS.ProcessEnv, name: string, problems: string[]): number | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) {
    problems.push(`${name}: must be a whole number of 0 or more, got "${raw}"`);
    return undefined;
  }
  return Number(raw);
}

export function parseEnv(env: NodeJS.ProcessEnv): LocalModelOptions & { port: number; host: string } {
  const problems: string[] = [];
  const port = nonNegativeInteger(env, 'LOCAL_MODEL_PORT', problems) ?? DEFAULT_PORT;
  if (port > 65_535) problems.push(`LOCAL_MODEL_PORT: must be at most 65535, got ${port}`);
  const firstTokenDelayMs = nonNegativeInteger(env, 'LOCAL_MODEL_FIRST_TOKEN_DELAY_MS', problems) ?? 0;
  const chunkDelayMs = nonNegativeInteger(env, 'LOCAL_MODEL_CHUNK_DELAY_MS', problems) ?? 0;
  const reportUsageRaw = env.LOCAL_MODEL_REPORT_USAGE?.trim().toLowerCase() || 'true';
  if (reportUsageRaw !== 'true' && reportUsageRaw !== 'false') {
    problems.push(`LOCAL_MODEL_REPORT_USAGE: must be true or false, got "${env.LOCAL_MODEL_REPORT_USAGE}"`);
  }
  if (problems.length > 0) throw new EnvError(`Invalid environment:\n  ${problems.join('\n  ')}`);
  const apiKey = env.LOCAL_MODEL_API_KEY?.trim() || undefined;
  return {
    port,
    host: env.LOCAL_MODEL_HOST?.trim() || '127.0.0.1',
    firstTokenDelayMs,
    chunkDelayMs,
    reportUsage: reportUsageRaw === 'true',
    ...(apiKey ? { apiKey } : {}),
  };
}
