import { z } from 'zod';

/**
 * Money crosses the API in USD decimals (as the reference does) and is integer micro-USD inside.
 * Amounts with more than six decimals are refused rather than rounded: nothing is silently lost.
 */
export const usdAmount = (options: { min?: number; max?: number } = {}) =>
  z
    .number()
    .min(options.min ?? 0)
    .max(options.max ?? 10_000_000)
    .refine((value) => Math.abs(value * 1e6 - Math.round(value * 1e6)) < 1e-6, {
      message: 'must have at most 6 decimals (micro-USD)',
    });

export const usdToMicros = (usd: number): number => Math.round(usd * 1_000_000);

export const microsToUsd = (micros: number): number => micros / 1_000_000;

/** Exact decimal USD from integer micro-USD (no floating point): -1234567 → "-1.234567". */
export function formatMicros(micros: number): string {
  const sign = micros < 0 ? '-' : '';
  const absolute = Math.abs(micros);
  const whole = Math.floor(absolute / 1_000_000);
  const fraction = String(absolute % 1_000_000).padStart(6, '0');
  return `${sign}${whole}.${fraction}`;
}

/** A stored micro-USD field: empty means "no cap". */
export const microsOrNull = (value: string | undefined | null): number | null =>
  value === undefined || value === null || value === '' ? null : Number(value);
