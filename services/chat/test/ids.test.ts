import { describe, expect, it } from 'vitest';
import { hasPrefix, newId } from '../src/ids.ts';

describe('ids', () => {
  it('sort in the order they were minted, also within one millisecond', () => {
    const ids = Array.from({ length: 2000 }, () => newId('ledgerEntry'));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    for (const id of ids) expect(hasPrefix('ledgerEntry', id)).toBe(true);
  });

  it('take an explicit time as given (a past record in a test)', () => {
    const past = newId('llmCall', Date.UTC(2025, 0, 1));
    expect(past < newId('llmCall')).toBe(true);
    expect(hasPrefix('llmCall', past)).toBe(true);
  });
});
