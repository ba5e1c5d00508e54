import { randomBytes } from 'node:crypto';

/** Every id the service mints carries one of these prefixes, so an id says what it names. */
export const idPrefixes = {
  organization: 'org',
  apiKey: 'key',
  agent: 'agent',
  mcpServer: 'mcp',
  tool: 'tool',
  embedKey: 'ek',
  domain: 'dom',
  conversation: 'conv',
  llmCall: 'call',
  ledgerEntry: 'led',
  request: 'req',
  webhookEndpoint: 'whep',
  webhookEvent: 'evt',
  webhookDelivery: 'whdl',
} as const;

export type IdKind = keyof typeof idPrefixes;

const crockford = '0123456789abcdefghjkmnpqrstvwxyz';

function encodeTime(milliseconds: number): string {
  let value = milliseconds;
  let out = '';
  for (let index = 0; index < 10; index++) {
    out = crockford[value % 32] + out;
    value = Math.floor(value / 32);
  }
  return out;
}

const randomLength = 12;

function randomDigits(): number[] {
  return Array.from(randomBytes(randomLength), (byte) => byte % 32);
}

/** The last id's time and random part, so ids minted in the same millisecond still sort in order. */
let last = { time: 0, digits: randomDigits() };

function nextDigits(digits: readonly number[]): number[] {
  const next = [...digits];
  for (let index = next.length - 1; index >= 0; index--) {
    next[index] = ((next[index] ?? 0) + 1) % 32;
    if (next[index] !== 0) break;
  }
  return next;
}

/**
 * `newId('agent')` → `agent_01jz…`. The time part comes first so ids sort by creation, which is
 * what the cursor paging of every list relies on (ZRANGEBYLEX over ids). Within one millisecond
 * (or if the clock steps back) the random part is incremented instead of drawn, so the ids of one
 * process keep their order: the ledger and the LLM-call log list newest first by id. An explicit
 * `now` (a test's past time) is drawn as is.
 */
export function newId(kind: IdKind, now?: number): string {
  if (now !== undefined) return format(kind, now, randomDigits());
  const time = Date.now();
  last =
    time > last.time
      ? { time, digits: randomDigits() }
      : { time: last.time, digits: nextDigits(last.digits) };
  return format(kind, last.time, last.digits);
}

function format(kind: IdKind, time: number, digits: readonly number[]): string {
  return `${idPrefixes[kind]}_${encodeTime(time)}${digits.map((digit) => crockford[digit]).join('')}`;
}

/** Sorts before every id of this kind minted at or after `ms`: the bound for trimming by time. */
export function idFloor(kind: IdKind, ms: number): string {
  return `${idPrefixes[kind]}_${encodeTime(ms)}`;
}

export function hasPrefix(kind: IdKind, value: string): boolean {
  return new RegExp(`^${idPrefixes[kind]}_[0-9a-z]{22}$`).test(value);
}
