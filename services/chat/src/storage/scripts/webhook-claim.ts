import { z } from 'zod';
import { defineScript } from './define-script.ts';

/** webhook-claim.lua: the ids of the due deliveries, each leased to this caller for `leaseMs`. */
export const webhookClaim = defineScript({
  file: 'webhook-claim.lua',
  keyCount: 1,
  encode: (keys: { schedule: string }, args: { nowMs: number; leaseMs: number; most: number }) => ({
    keys: [keys.schedule],
    args: [args.nowMs, args.leaseMs, args.most],
  }),
  reply: z.array(z.string()),
});
