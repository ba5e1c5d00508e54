import { z } from 'zod';
import { defineScript } from './define-script.ts';

/**
 * rate-limit.lua: one token from every bucket (a hash: tokens, at), or none. `perMinute[i]` is
 * bucket i's limit. Refused: how long until the emptiest bucket has a token, and its index.
 */
export const rateLimit = defineScript({
  file: 'rate-limit.lua',
  keyCount: 'any',
  encode: (keys: { buckets: string[] }, args: { nowMs: number; perMinute: number[] }) => {
    if (args.perMinute.length !== keys.buckets.length) {
      throw new Error(`rate-limit.lua: ${keys.buckets.length} buckets, ${args.perMinute.length} limits`);
    }
    return { keys: keys.buckets, args: [args.nowMs, ...args.perMinute] };
  },
  reply: z.union([
    z.tuple([z.literal(1)]).transform(() => ({ taken: true as const })),
    z.tuple([z.literal(0), z.number(), z.int().min(1)]).transform(([, retryAfterMs, index]) => ({
      taken: false as const,
      retryAfterMs,
      bucketIndex: index - 1,
    })),
  ]),
});
