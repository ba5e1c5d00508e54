import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { redisAnswers, redisVersion, removeKeysByPrefix, startRedisServer } from '../src/redis.ts';

describe('a private redis-server', () => {
  it('answers once started, removes keys by prefix only, and leaves nothing behind when stopped', async () => {
    const server = await startRedisServer();
    const redis = new Redis(server.url);
    try {
      expect(await redisAnswers(server.url)).toBe(true);
      expect(await redisVersion(redis)).toMatch(/^\d+\.\d+/);
      await redis.mset('mine:a', '1', 'mine:b', '2', 'theirs:a', '3');
      expect(await removeKeysByPrefix(redis, 'mine:')).toBe(2);
      expect(await redis.keys('*')).toEqual(['theirs:a']);
    } finally {
      redis.disconnect();
      await server.stop();
    }
    expect(await redisAnswers(server.url)).toBe(false);
    expect(existsSync(server.directory)).toBe(false);
  });
});
