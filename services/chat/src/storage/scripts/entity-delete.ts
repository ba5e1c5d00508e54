import { z } from 'zod';
import { defineScript } from './define-script.ts';
import type { CollectionKeys } from './entity-create.ts';

/**
 * entity-delete.lua: deletes an entity with its index entry, its unique value (while that still names
 * it) and a key it owns (`owned`: the entity key again when it owns none). Replies the deleted JSON,
 * or null when there was nothing to delete.
 */
export const entityDelete = defineScript({
  file: 'entity-delete.lua',
  keyCount: 4,
  encode: (keys: CollectionKeys & { owned: string }, args: { id: string; uniqueValue: string }) => ({
    keys: [keys.entity, keys.index, keys.unique, keys.owned],
    args: [args.id, args.uniqueValue],
  }),
  reply: z.string().nullable(),
});
