/** The part of the Web Storage API the client uses; `localStorage` by default. */
export type KeyValueStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

export interface Saved {
  visitorId?: string;
  conversationId?: string;
  /** The id of the user message whose answer is in flight in `conversationId`, until its `finish`. */
  answering?: string;
}

/** The service's id rule for visitor and conversation ids. */
export const opaqueIdPattern = /^[A-Za-z0-9_-]{8,100}$/;

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A random id: the prefix and 22 base-62 characters (~131 bits). `crypto.getRandomValues` is used
 * because `crypto.randomUUID` exists only in secure contexts, and sites on plain http embed too.
 */
export function randomId(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(22));
  let id = `${prefix}_`;
  for (const byte of bytes) id += alphabet[byte % 62];
  return id;
}

/**
 * The visitor id, the current conversation id and the answer in flight, kept per publishable key
 * (two agents on one site keep two conversations) under `mcpstack:<publicKey>`. Returns what was
 * saved (checked: storage is the page's, anything could be there) and a function that saves it.
 */
export function savedState(publicKey: string, given?: KeyValueStorage | null): [Saved, () => void] {
  let storage: KeyValueStorage | null = given ?? null;
  try {
    // Reading localStorage throws in sandboxed frames and with storage blocked; then nothing is
    // kept across reloads (the ids still live in memory for the page's life).
    storage ??= globalThis.localStorage;
  } catch {
    storage = null;
  }
  const key = `mcpstack:${publicKey}`;
  const saved: Saved = {};
  try {
    const value = JSON.parse(storage?.getItem(key) ?? '{}') as Record<string, unknown>;
    for (const field of ['visitorId', 'conversationId', 'answering'] as const) {
      const id = value?.[field];
      if (typeof id === 'string' && opaqueIdPattern.test(id)) saved[field] = id;
    }
  } catch {
    // unreadable: start afresh
  }
  const save = () => {
    try {
      storage?.setItem(key, JSON.stringify(saved));
    } catch {
      // full or refused: the conversation just will not survive a reload
    }
  };
  return [saved, save];
}
