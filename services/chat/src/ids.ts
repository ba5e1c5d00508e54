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

function encodeRandom(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += crockford[byte % 32];
  return out;
}

/**
 * `newId('agent')` → `agent_01jz…`. The time part comes first so ids sort by creation, which is
 * what the cursor paging of every list relies on (ZRANGEBYLEX over ids).
 */
export function newId(kind: IdKind, now: number = Date.now()): string {
  return `${idPrefixes[kind]}_${encodeTime(now)}${encodeRandom(12)}`;
}

/** Sorts before every id of this kind minted at or after `ms`: the bound for trimming by time. */
export function idFloor(kind: IdKind, ms: number): string {
  return `${idPrefixes[kind]}_${encodeTime(ms)}`;
}

export function hasPrefix(kind: IdKind, value: string): boolean {
  return new RegExp(`^${idPrefixes[kind]}_[0-9a-z]{22}$`).test(value);
}
