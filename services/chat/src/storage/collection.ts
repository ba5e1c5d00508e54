import type { z } from 'zod';
import type { Collection, Keys } from './keys.ts';
import type { RedisClient, Scripts } from './redis.ts';

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
      const org = keys.organization(organizationId);
      const result = await scripts.run(
        'entityCreate',
        [
          org.entity(collection, value.id),
          org.index(collection),
          org.unique(collection, uniqueField ?? 'none'),
        ],
        [value.id, JSON.stringify(value), uniqueOf(value)],
      );
      return result === 1 ? 'created' : 'conflict';
    },

    async update(organizationId, id, change) {
      const org = keys.organization(organizationId);
      for (let attempt = 0; attempt < maxUpdateAttempts; attempt++) {
        const raw = await readRaw(organizationId, id);
        if (raw === null) return { status: 'not_found' };
        const current = parse(raw);
        const next = change(current);
        const result = await scripts.run(
          'entityUpdate',
          [org.entity(collection, id), org.unique(collection, uniqueField ?? 'none')],
          [raw, JSON.stringify(next), uniqueOf(current), uniqueOf(next), id],
        );
        if (result === 1) return { status: 'updated', value: next };
        if (result === 0) return { status: 'conflict' };
        if (result === -1) return { status: 'not_found' };
      }
      throw new Error(`Gave up updating ${collection} ${id} after ${maxUpdateAttempts} concurrent changes`);
    },

    async remove(organizationId, id, ownedKey) {
      const org = keys.organization(organizationId);
      const raw = await readRaw(organizationId, id);
      if (raw === null) return null;
      const entityKey = org.entity(collection, id);
      const deleted = await scripts.run(
        'entityDelete',
        [
          entityKey,
          org.index(collection),
          org.unique(collection, uniqueField ?? 'none'),
          ownedKey ?? entityKey,
        ],
        [id, uniqueOf(parse(raw))],
      );
      return typeof deleted === 'string' ? parse(deleted) : null;
    },
  };
}
