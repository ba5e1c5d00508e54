import type { z } from 'zod';
import type { Collection, Keys } from './keys.ts';
import type { RedisClient } from './redis.ts';
import type { Scripts } from './scripts.ts';

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

export interface PageRequest {
  limit: number;
  cursor?: string | undefined;
}

export type CreateResult = 'created' | 'conflict';
export type UpdateResult<T> =
  | { status: 'updated'; value: T }
  | { status: 'not_found' }
  | { status: 'conflict' };

export interface CollectionStore<T extends { id: string }> {
  get(organizationId: string, id: string): Promise<T | null>;
  list(organizationId: string, page: PageRequest): Promise<Page<T>>;
  /** Every entity of the organization, for the small collections where a scan is fine. */
  all(organizationId: string): Promise<T[]>;
  count(organizationId: string): Promise<number>;
  create(organizationId: string, value: T): Promise<CreateResult>;
  /** Read-modify-write with optimistic concurrency; `change` may run more than once. */
  update(organizationId: string, id: string, change: (current: T) => T): Promise<UpdateResult<T>>;
  remove(organizationId: string, id: string, ownedKey?: string): Promise<T | null>;
}

interface CollectionOptions<T> {
  redis: RedisClient;
  scripts: Scripts;
  keys: Keys;
  collection: Collection;
  schema: z.ZodType<T>;
  /** A field whose value is unique within the organization (a slug). */
  uniqueField?: keyof T & string;
}

const maxUpdateAttempts = 10;

/**
 * One organization-scoped collection of JSON entities: a string key per entity, a sorted set of ids
 * (all scores 0, so ZRANGEBYLEX pages in id order, which is creation order), and an optional hash
 * for a unique field. Values read back are parsed with the entity's schema.
 */
export function createCollectionStore<T extends { id: string }>(
  options: CollectionOptions<T>,
): CollectionStore<T> {
  const { redis, scripts, keys, collection, schema, uniqueField } = options;

  const parse = (json: string): T => schema.parse(JSON.parse(json));
  const uniqueOf = (value: T): string => (uniqueField ? String(value[uniqueField] ?? '') : '');

  /** Where one entity of this collection lives, with its index and unique hash. */
  const collectionKeys = (organizationId: string, id: string) => {
    const org = keys.organization(organizationId);
    return {
      entity: org.entity(collection, id),
      index: org.index(collection),
      unique: org.unique(collection, uniqueField ?? 'none'),
    };
  };

  async function readRaw(organizationId: string, id: string): Promise<string | null> {
    return redis.get(keys.organization(organizationId).entity(collection, id));
  }

  async function load(organizationId: string, ids: string[]): Promise<T[]> {
    if (ids.length === 0) return [];
    const org = keys.organization(organizationId);
    const values = await redis.mget(...ids.map((id) => org.entity(collection, id)));
    return values.filter((value): value is string => value !== null).map(parse);
  }

  return {
    async get(organizationId, id) {
      const raw = await readRaw(organizationId, id);
      return raw === null ? null : parse(raw);
    },

    async list(organizationId, { limit, cursor }) {
      const index = keys.organization(organizationId).index(collection);
      const start = cursor ? `(${cursor}` : '-';
      const ids = await redis.zrangebylex(index, start, '+', 'LIMIT', 0, limit + 1);
      const pageIds = ids.slice(0, limit);
      const data = await load(organizationId, pageIds);
      return { data, nextCursor: ids.length > limit ? (pageIds.at(-1) ?? null) : null };
    },

    async all(organizationId) {
      const ids = await redis.zrangebylex(keys.organization(organizationId).index(collection), '-', '+');
      return load(organizationId, ids);
    },

    async count(organizationId) {
      return redis.zcard(keys.organization(organizationId).index(collection));
    },

    async create(organizationId, value) {
      return scripts.entityCreate(collectionKeys(organizationId, value.id), {
        id: value.id,
        json: JSON.stringify(value),
        uniqueValue: uniqueOf(value),
      });
    },

    async update(organizationId, id, change) {
      for (let attempt = 0; attempt < maxUpdateAttempts; attempt++) {
        const raw = await readRaw(organizationId, id);
        if (raw === null) return { status: 'not_found' };
        const current = parse(raw);
        const next = change(current);
        const outcome = await scripts.entityUpdate(collectionKeys(organizationId, id), {
          id,
          expectedJson: raw,
          json: JSON.stringify(next),
          oldUniqueValue: uniqueOf(current),
          newUniqueValue: uniqueOf(next),
        });
        if (outcome === 'updated') return { status: 'updated', value: next };
        if (outcome !== 'changed') return { status: outcome };
      }
      throw new Error(`Gave up updating ${collection} ${id} after ${maxUpdateAttempts} concurrent changes`);
    },

    async remove(organizationId, id, ownedKey) {
      const raw = await readRaw(organizationId, id);
      if (raw === null) return null;
      const entityKeys = collectionKeys(organizationId, id);
      const deleted = await scripts.entityDelete(
        { ...entityKeys, owned: ownedKey ?? entityKeys.entity },
        { id, uniqueValue: uniqueOf(parse(raw)) },
      );
      return deleted === null ? null : parse(deleted);
    },
  };
}
