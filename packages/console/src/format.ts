const usdFormat = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
const preciseFormat = new Intl.NumberFormat('en-US', {
  style: 'currency',
  currency: 'USD',
  minimumFractionDigits: 2,
  maximumFractionDigits: 6,
});
const numberFormat = new Intl.NumberFormat('en-US');

/** Dollars with cents; `precise` keeps the micro-dollars an LLM call costs. */
export function usd(value: number | null | undefined, precise = false): string {
  if (value === null || value === undefined) return '—';
  return (precise ? preciseFormat : usdFormat).format(value);
}

export function count(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : numberFormat.format(value);
}

export function dateTime(value: string | null | undefined): string {
  if (!value) return '—';
  return `${value.slice(0, 10)} ${value.slice(11, 19)} UTC`;
}

export function day(value: string): string {
  return value.slice(0, 10);
}
