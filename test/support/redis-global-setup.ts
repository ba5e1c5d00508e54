import { type LocalRedis, redisAnswers, startRedisServer } from '@mcpstack/test-support/redis';
import type { TestProject } from 'vitest/node';

let started: LocalRedis | undefined;

/**
 * Uses the Redis at REDIS_URL when it answers; otherwise starts a private redis-server on a free
 * port in a temp dir. Tests only ever touch keys under a prefix of their own.
 */
export async function setup(project: TestProject): Promise<void> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (await redisAnswers(url)) {
    project.provide('redisUrl', url);
    return;
  }
  started = await startRedisServer();
  process.env.REDIS_URL = started.url;
  project.provide('redisUrl', started.url);
}

export async function teardown(): Promise<void> {
  await started?.stop();
}
