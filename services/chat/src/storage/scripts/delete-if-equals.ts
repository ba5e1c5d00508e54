import { defineScript, doneReply } from './define-script.ts';

/** delete-if-equals.lua: deletes a marker only while it holds the caller's value; true when deleted. */
export const deleteIfEquals = defineScript({
  file: 'delete-if-equals.lua',
  keyCount: 1,
  encode: (keys: { marker: string }, args: { value: string }) => ({
    keys: [keys.marker],
    args: [args.value],
  }),
  reply: doneReply,
});
