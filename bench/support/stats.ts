/** The value at quantile `q` (0-1) of `values`, nearest rank; `values` need not be sorted. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export const formatMs = (milliseconds: number): string =>
  milliseconds >= 100 ? `${Math.round(milliseconds)} ms` : `${milliseconds.toFixed(2)} ms`;

export const formatInteger = (value: number): string => Math.round(value).toLocaleString('en-US');

/** Micro-USD as USD with all six decimals: the figures are compared to the micro. */
export const formatUsd = (micros: number): string => `$${(micros / 1_000_000).toFixed(6)}`;

export const sleep = (milliseconds: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, milliseconds));
