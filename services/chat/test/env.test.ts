import { describe, expect, it } from 'vitest';
import { EnvError, parseEnv } from '../src/env.ts';

const valid = { MCPSTACK_ADMIN_TOKEN: 'a'.repeat(32), MCPSTACK_SECRET_KEY: 'b'.repeat(32) };

describe('configuration from the environment', () => {
  it('applies the documented defaults', () => {
    const env = parseEnv(valid);
    expect(env).toMatchObject({
      PORT: 8787,
      REDIS_URL: 'redis://127.0.0.1:6379',
      MCPSTACK_ALLOW_PRIVATE_URLS: false,
      OPENAI_BASE_URL: 'https://api.openai.com/v1',
      MCPSTACK_REDIS_PREFIX: 'mcpstack:',
    });
  });

  it('names every missing or bad variable at once', () => {
    let message = '';
    try {
      parseEnv({
        PORT: 'eighty',
        MCPSTACK_ALLOW_PRIVATE_URLS: 'yes',
        REDIS_URL: 'localhost:6379',
        OPENAI_BASE_URL: 'ftp://x',
      });
    } catch (error) {
      expect(error).toBeInstanceOf(EnvError);
      message = (error as Error).message;
    }
    for (const name of [
      'PORT',
      'MCPSTACK_ALLOW_PRIVATE_URLS',
      'REDIS_URL',
      'OPENAI_BASE_URL',
      'MCPSTACK_ADMIN_TOKEN',
      'MCPSTACK_SECRET_KEY',
    ]) {
      expect(message).toContain(`${name}:`);
    }
  });

  it('refuses a short operator token', () => {
    expect(() => parseEnv({ ...valid, MCPSTACK_ADMIN_TOKEN: 'short' })).toThrow(
      /MCPSTACK_ADMIN_TOKEN: must be at least 32 characters/,
    );
  });

  it('refuses a key prefix that would break hash tags', () => {
    expect(() => parseEnv({ ...valid, MCPSTACK_REDIS_PREFIX: 'a{b}:' })).toThrow(/MCPSTACK_REDIS_PREFIX/);
  });

  it('accepts a cluster seed list', () => {
    const env = parseEnv({
      ...valid,
      REDIS_URL: 'redis://10.0.0.1:7000,redis://10.0.0.2:7000',
      MCPSTACK_REDIS_CLUSTER: 'true',
    });
    expect(env.MCPSTACK_REDIS_CLUSTER).toBe(true);
  });

  it('bounds how long a client may take to send a request, and guards /metrics with a long token', () => {
    expect(parseEnv(valid)).toMatchObject({
      MCPSTACK_HEADERS_TIMEOUT_MS: 15_000,
      MCPSTACK_REQUEST_TIMEOUT_MS: 60_000,
      MCPSTACK_KEEP_ALIVE_TIMEOUT_MS: 65_000,
    });
    expect(parseEnv(valid).MCPSTACK_METRICS_TOKEN).toBeUndefined();
    expect(() =>
      parseEnv({ ...valid, MCPSTACK_HEADERS_TIMEOUT_MS: '30000', MCPSTACK_REQUEST_TIMEOUT_MS: '20000' }),
    ).toThrow(/MCPSTACK_HEADERS_TIMEOUT_MS: must not exceed MCPSTACK_REQUEST_TIMEOUT_MS/);
    expect(() => parseEnv({ ...valid, MCPSTACK_METRICS_TOKEN: 'short' })).toThrow(/MCPSTACK_METRICS_TOKEN/);
    expect(parseEnv({ ...valid, MCPSTACK_METRICS_TOKEN: '' }).MCPSTACK_METRICS_TOKEN).toBeUndefined();
  });
});
