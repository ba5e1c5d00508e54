import { z } from 'zod';
import { type HoldKeys, holdKeyList } from './budget-reserve.ts';
import { defineScript } from './define-script.ts';

/** budget-release.lua: gives back a hold unused (its call was never made); a hold already gone is no error. */
export const budgetRelease = defineScript({
  file: 'budget-release.lua',
  keyCount: 3,
  encode: (keys: HoldKeys, args: { holdId: string }) => ({
    keys: holdKeyList(keys),
    args: [args.holdId],
  }),
  reply: z.literal(1),
});
