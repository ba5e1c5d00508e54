import { LRUCache } from 'lru-cache';
import type { Deps } from '../deps.ts';
import { type EmbedKeyLookup, findEmbedKey } from './embed-keys.ts';

/**
 * Which embed key a publishable key names, remembered by this process. What a key's lookup entry
 * says (its id, organization, agent and allowed origins) never changes once the key exists, so the
 * chat API needs Redis only for whether the key is still live, and admission reads that in the
 * organization's slot together with the agent and the limits (`chat-admit.lua`): a turn saves the
 * lookup's round trip. Revocation stays immediate: it deletes the key's entity first, and admission
 * refuses a key without one, whoever remembers it.
 */
export class EmbedKeyDirectory {
  readonly #deps: Pick<Deps, 'redis' | 'keys'>;
  readonly #known: LRUCache<string, EmbedKeyLookup>;

  constructor(deps: Pick<Deps, 'redis' | 'keys'>, capacity = 10_000) {
    this.#deps = deps;
    this.#known = new LRUCache({ max: capacity });
  }

  /** The key a publishable key names (not yet confirmed live: admission does that), or null. */
  async find(publicKey: string): Promise<EmbedKeyLookup | null> {
    const known = this.#known.get(publicKey);
    if (known) return known;
    const found = await findEmbedKey(this.#deps, publicKey);
    if (found) this.#known.set(publicKey, found);
    return found;
  }
}
