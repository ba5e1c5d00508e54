import { z } from 'zod';
import { defineScript } from './define-script.ts';

/** The keys of one organization's collection (storage/collection.ts). */
export interface CollectionKeys {
  /** String: the entity's JSON. */
  entity: string;
  /** Sorted set: the collection's ids (all scores 0, ordered by id). */
  index: string;
  /** Hash: unique value → id (a collection without a unique field names an unused one). */
  unique: string;
}

/** entity-create.lua: creates an entity with its index entry and unique value, all or nothing. */
export const entityCreate = defineScript({
  file: 'entity-create.lua',
  keyCount: 3,
  encode: (keys: CollectionKeys, args: { id: string; json: string; uniqueValue: string }) => ({
    keys: [keys.entity, keys.index, keys.unique],
    args: [args.id, args.json, args.uniqueValue],
  }),
  /** `conflict`: another entity has its unique value. */
  reply: z.union([z.literal(1), z.literal(0)]).transform((reply) => (reply === 1 ? 'created' : 'conflict')),
});
