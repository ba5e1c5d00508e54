import { defineScript, doneReply } from './define-script.ts';

/**
 * hash-field-swap.lua: compare-and-set of one hash field. True when set; false when the field no
 * longer holds `expected` (null: absent), and nothing changed.
 */
export const hashFieldSwap = defineScript({
  file: 'hash-field-swap.lua',
  keyCount: 1,
  encode: (keys: { hash: string }, args: { field: string; expected: string | null; value: string }) => ({
    keys: [keys.hash],
    args: [args.field, args.expected ?? '', args.value],
  }),
  reply: doneReply,
});
