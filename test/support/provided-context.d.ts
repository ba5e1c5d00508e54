// What the Redis global setup provides to every test (see redis-global-setup.ts).
declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

export {};
