import type { OutboxPosition } from '../../domain/history/outbox.ts';

/**
 * What was drained as of a Redis snapshot: rows up to the stream's last id then, less the ids
 * still in the stream (written but not yet deleted: the snapshot's tail counts them).
 */
export interface DrainedBound {
  upTo: OutboxPosition;
  exclude: readonly string[];
}

/** The conditions (after an AND) that keep a query to the rows drained up to `bound`; '' for all. */
export function upToClause(bound: DrainedBound | undefined, params: unknown[]): string {
  if (!bound) return '';
  params.push(bound.upTo.milliseconds, bound.upTo.sequence, bound.exclude);
  const at = params.length;
  return ` AND (outbox_ms, outbox_seq) <= ($${at - 2}, $${at - 1}) AND id <> ALL($${at}::text[])`;
}
