import type { Page, PageRequest } from '../collection.ts';
import type { Queryable } from './database.ts';

/** A WHERE clause built one condition at a time, its values numbered as parameters in order. */
export class Conditions {
  readonly params: unknown[] = [];
  private readonly clauses: string[] = [];

  /** Takes `value` as the next parameter; returns its placeholder (`$3`). */
  bind(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  add(clause: string): void {
    this.clauses.push(clause);
  }

  toString(): string {
    return this.clauses.join(' AND ');
  }
}

/**
 * One page of a table, newest first by id (ids sort by time): the rows after the cursor (the last
 * id served), one more than the limit to know whether another page follows.
 */
export async function keysetPage<Row, T extends { id: string }>(
  database: Queryable,
  table: string,
  where: Conditions,
  page: PageRequest,
  recordOf: (row: Row) => T,
): Promise<Page<T>> {
  if (page.cursor) where.add(`id < ${where.bind(page.cursor)}`);
  const limit = where.bind(page.limit + 1);
  const rows = await database.query<Row>(
    `SELECT * FROM ${table} WHERE ${where} ORDER BY id DESC LIMIT ${limit}`,
    where.params,
  );
  const data = rows.slice(0, page.limit).map(recordOf);
  return { data, nextCursor: rows.length > page.limit ? (data.at(-1)?.id ?? null) : null };
}
