import type { Queryable } from './database.ts';

/**
 * Writes `rows` in one statement whose parameters are whole columns (`INSERT … SELECT FROM
 * unnest($1::text[], …)`): `columns` picks each parameter's value from a row, in placeholder order.
 */
export async function insertColumns<Row>(
  transaction: Queryable,
  sql: string,
  rows: readonly Row[],
  columns: ReadonlyArray<(row: Row) => unknown>,
): Promise<void> {
  if (rows.length === 0) return;
  await transaction.query(
    sql,
    columns.map((pick) => rows.map(pick)),
  );
}
