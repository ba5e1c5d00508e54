import { defineScript, doneReply } from './define-script.ts';

/** stream-acquire.lua: a lease on one of a visitor's concurrent streams; false when `most` are open. */
export const streamAcquire = defineScript({
  file: 'stream-acquire.lua',
  keyCount: 1,
  encode: (
    keys: { streams: string },
    args: { nowMs: number; expiresAtMs: number; leaseId: string; most: number },
  ) => ({ keys: [keys.streams], args: [args.nowMs, args.expiresAtMs, args.leaseId, args.most] }),
  reply: doneReply,
});
