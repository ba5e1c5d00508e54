import { z } from 'zod';
import { defineScript, statusReply } from './define-script.ts';

export interface ChatAdmitKeys {
  /** String: the agent's record (JSON). */
  agent: string;
  /** Sorted set: the visitor's open streams. */
  streams: string;
  embedKeyBucket: string;
  ipBucket: string;
  visitorBucket: string;
  /** The embed key's entity (revocation deletes it first). */
  embedKeyEntity: string;
  /** Set: the agent's verified domains. */
  verifiedDomains: string;
}

/**
 * A step sent right behind an admission in the same round trip (lib/admission-gate.lua): it runs only
 * when the admission leased `leaseId` in `streams`, the visitor's open streams.
 */
export interface AdmissionGate {
  streams: string;
  leaseId: string;
}

/** The gate's KEYS and ARGV for a script that may run without one (`sameSlotKey` stands in for the key). */
export const gateKey = (gate: AdmissionGate | null, sameSlotKey: string) => gate?.streams ?? sameSlotKey;
export const gateLease = (gate: AdmissionGate | null) => gate?.leaseId ?? '';

/** The origin's rule: no domain needed, refused whatever the domains, or admitted on any of `domains`. */
export type OriginRule = { rule: 'admitted' } | { rule: 'refused' } | { rule: 'any-of'; domains: string[] };

export interface ChatAdmitArgs {
  nowMs: number;
  leaseExpiresAtMs: number;
  leaseId: string;
  /** The service's limits, for an agent that sets none of its own. */
  defaults: {
    maxStreamsPerVisitor: number;
    embedKeyPerMinute: number;
    ipPerMinute: number;
    visitorPerMinute: number;
  };
  origin: OriginRule;
}

/** KEYS[3..5], by the index the script names the empty one with. */
const buckets = { 1: 'embedKey', 2: 'ip', 3: 'visitor' } as const;

/**
 * chat-admit.lua: an anonymous chat request's admission in one step (key live, origin verified, its
 * agent, a token from each rate limit, a stream lease). `limited` names the empty bucket.
 */
export const chatAdmit = defineScript({
  file: 'chat-admit.lua',
  keyCount: 7,
  encode: (keys: ChatAdmitKeys, args: ChatAdmitArgs) => ({
    keys: [
      keys.agent,
      keys.streams,
      keys.embedKeyBucket,
      keys.ipBucket,
      keys.visitorBucket,
      keys.embedKeyEntity,
      keys.verifiedDomains,
    ],
    args: [
      args.nowMs,
      args.leaseExpiresAtMs,
      args.leaseId,
      args.defaults.maxStreamsPerVisitor,
      args.defaults.embedKeyPerMinute,
      args.defaults.ipPerMinute,
      args.defaults.visitorPerMinute,
      args.origin.rule,
      ...(args.origin.rule === 'any-of' ? args.origin.domains : []),
    ],
  }),
  reply: z.union([
    z.tuple([z.literal('ok'), z.string()]).transform(([status, agentJson]) => ({ status, agentJson })),
    z
      .tuple([
        z.literal('limited'),
        z.string(),
        z.number(),
        z.union([z.literal(1), z.literal(2), z.literal(3)]),
      ])
      .transform(([status, agentJson, retryAfterMs, index]) => ({
        status,
        agentJson,
        retryAfterMs,
        bucket: buckets[index],
      })),
    z
      .tuple([z.literal('streams'), z.string(), z.number()])
      .transform(([status, agentJson, mostStreams]) => ({ status, agentJson, mostStreams })),
    statusReply('revoked', 'origin', 'no_agent'),
  ]),
});
