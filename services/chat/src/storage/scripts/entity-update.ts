import { z } from 'zod';
import { defineScript } from './define-script.ts';
import type { CollectionKeys } from './entity-create.ts';

export interface EntityUpdateArgs {
  id: string;
  /** The JSON the caller read: the entity is replaced only while it still holds it. */
  expectedJson: string;
  json: string;
  /** The unique values before and after ('' for none). */
  oldUniqueValue: string;
  newUniqueValue: string;
}

const outcomes = { 1: 'updated', 0: 'conflict', [-1]: 'not_found', [-2]: 'changed' } as const;

/**
 * entity-update.lua: replaces an entity only if it still holds what the caller read, moving its
 * unique value. `conflict`: the new unique value is taken; `changed`: read again and retry.
 */
export const entityUpdate = defineScript({
  file: 'entity-update.lua',
  keyCount: 2,
  encode: (keys: Pick<CollectionKeys, 'entity' | 'unique'>, args: EntityUpdateArgs) => ({
    keys: [keys.entity, keys.unique],
    args: [args.expectedJson, args.json, args.oldUniqueValue, args.newUniqueValue, args.id],
  }),
  reply: z
    .union([z.literal(1), z.literal(0), z.literal(-1), z.literal(-2)])
    .transform((reply) => outcomes[reply]),
});
