import { describe, expect, it } from 'vitest';
import { DEFAULT_PORT, EnvError, parseEnv } from '../src/env.ts';

describe('parseEnv', () => {
  it('defaults to 127.0.0.1:11435 with no delays', () => {
    expect(parseEnv({})).toEqual({
      port: DEFAULT_PORT,
      host: '127.0.0.1',
      firstTokenDelayMs: 0,
      chunkDelayMs: 0,
      reportUsage: true,
    });
  });

  it('reads every variable', () => {
    expect(
      parseEnv({
        LOCAL_MODEL_PORT: '0',
        LOCAL_MODEL_HOST: '0.0.0.0',
        LOCAL_MODEL_FIRST_TOKEN_DELAY_MS: '200',
        LOCAL_MODEL_CHUNK_DELAY_MS: '20',
        LOCAL_MODEL_REPORT_USAGE: 'false',
        LOCAL_MODEL_API_KEY: 'sk-local',
      }),
    ).toEqual({
      port: 0,
      host: '0.0.0.0',
      firstTokenDelayMs: 200,
      chunkDelayMs: 20,
      reportUsage: false,
      apiKey: 'sk-local',
    });
  });

  it('names every bad variable at once', () => {
    const parse = () => parseEnv({ LOCAL_MODEL_PORT: 'http', LOCAL_MODEL_CHUNK_DELAY_MS: '-5' });
    expect(parse).toThrow(EnvError);
    expect(parse).toThrow(/LOCAL_MODEL_PORT: must be a whole number[\s\S]*LOCAL_MODEL_CHUNK_DELAY_MS/);
  });
});
