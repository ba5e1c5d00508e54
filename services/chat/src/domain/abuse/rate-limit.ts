import type { Deps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import type { AgentRecord } from '../../storage/records.ts';
import type { AdmissionGate } from '../../storage/scripts/chat-admit.ts';
import { assertOriginAdmitted, embedKeyRefused, type KeyAdmission } from '../embed-key-admission.ts';
import { type RefusalDetails, remedies } from '../refusals.ts';

type LimitDeps = Pick<Deps, 'scripts' | 'keys' | 'clock' | 'env'>;

export type RateScope = 'embed_key' | 'visitor' | 'ip' | 'api_key';

export interface RateBucket {
  scope: RateScope;
  /** Identifies the bucket within the organization (e.g. `visitor:<agent>:<visitor>`). */
  name: string;
  perMinute: number;
}

const scopeMessages: Record<RateScope, string> = {
  embed_key: 'This website is sending too many messages right now.',
  visitor: 'You are sending messages too quickly.',
  ip: 'Too many messages are coming from your network.',
  api_key: 'This API key is sending too many requests.',
};

/**
 * Takes one token from every bucket (all of one organization, so one slot and one script), or
 * throws 429 `rate_limited` with the scope and how long to wait (also the `Retry-After` header).
 */
export async function takeTokens(deps: LimitDeps, organizationId: string, buckets: readonly RateBucket[]) {
  if (buckets.length === 0) return;
  const keys = deps.keys.organization(organizationId);
  const reply = await deps.scripts.rateLimit(
    { buckets: buckets.map((bucket) => keys.rateBucket(bucket.name)) },
    { nowMs: deps.clock.now().getTime(), perMinute: buckets.map((bucket) => bucket.perMinute) },
  );
  if (reply.taken) return;
  const bucket = buckets[reply.bucketIndex] ?? buckets[0];
  throw rateLimited(bucket?.scope ?? 'ip', reply.retryAfterMs);
}

function rateLimited(scope: RateScope, retryMs: number | undefined): ApiError {
  const retryAfterSeconds = Math.max(1, Math.ceil((retryMs ?? 1000) / 1000));
  return new ApiError('rate_limited', `${scopeMessages[scope]} Try again in ${retryAfterSeconds} s.`, {
    scope,
    limitSource: 'rate',
    retryable: true,
    retryAfterSeconds,
    remedy: remedies.rate,
  } satisfies RefusalDetails & { scope: RateScope });
}

function tooManyStreams(maxStreams: number): ApiError {
  return new ApiError(
    'too_many_streams',
    `You already have ${maxStreams} answers in progress: wait for one to finish.`,
    {
      maxStreams,
      limitSource: 'in_flight',
      retryable: true,
      retryAfterSeconds: 2,
      remedy: remedies.streams,
    } satisfies RefusalDetails & { maxStreams: number },
  );
}

/**
 * A lease on one of the visitor's concurrent streams, or 429 `too_many_streams`. The lease ends with
 * the stream (`release`) or, if the process dies, when it expires.
 */
export async function acquireStream(
  deps: LimitDeps & Pick<Deps, 'redis'>,
  organizationId: string,
  agentId: string,
  visitorId: string,
  maxStreams: number,
): Promise<{ release(): Promise<void> }> {
  const key = deps.keys.organization(organizationId).visitorStreams(agentId, visitorId);
  const id = crypto.randomUUID();
  const now = deps.clock.now().getTime();
  const leased = await deps.scripts.streamAcquire(
    { streams: key },
    {
      nowMs: now,
      expiresAtMs: now + deps.env.MCPSTACK_MODEL_TIMEOUT_MS + deps.env.MCPSTACK_RESERVATION_GRACE_MS,
      leaseId: id,
      most: maxStreams,
    },
  );
  if (!leased) throw tooManyStreams(maxStreams);
  return streamLease(deps, key, id);
}

export interface StreamLease {
  release(): Promise<void>;
}

function streamLease(deps: Pick<Deps, 'redis'>, key: string, id: string): StreamLease {
  return {
    async release() {
      await deps.redis.zrem(key, id).catch(() => undefined);
    },
  };
}

/** Who is asking the chat API, as far as its abuse limits go. */
export interface ChatCaller {
  organizationId: string;
  embedKeyId: string;
  /** The client IP as seen through MCPSTACK_TRUSTED_PROXIES proxies. */
  clientIp: string;
  /** The visitor id the request claims, when it has a well-formed one. */
  visitorId?: string;
}

/**
 * The chat API's abuse limits for one request, all or nothing in one script: the embed key, the
 * client IP and, when known, the visitor (429 `rate_limited` naming the scope).
 */
export async function limitChat(deps: LimitDeps, caller: ChatCaller, agent: AgentRecord): Promise<void> {
  const limits = agent.rateLimits;
  const buckets: RateBucket[] = [
    {
      scope: 'embed_key',
      name: `embed-key:${caller.embedKeyId}`,
      perMinute: limits.embedKeyPerMinute ?? deps.env.MCPSTACK_RATE_LIMIT_KEY_PER_MINUTE,
    },
    {
      scope: 'ip',
      name: `ip:${agent.id}:${caller.clientIp}`,
      perMinute: limits.ipPerMinute ?? deps.env.MCPSTACK_RATE_LIMIT_IP_PER_MINUTE,
    },
  ];
  if (caller.visitorId) {
    buckets.push({
      scope: 'visitor',
      name: `visitor:${agent.id}:${caller.visitorId}`,
      perMinute: limits.visitorPerMinute ?? deps.env.MCPSTACK_RATE_LIMIT_VISITOR_PER_MINUTE,
    });
  }
  await takeTokens(deps, caller.organizationId, buckets);
}

/** The scope of each bucket chat-admit.lua takes from, for the 429 it refuses with. */
const bucketScopes = { embedKey: 'embed_key', ip: 'ip', visitor: 'visitor' } as const satisfies Record<
  string,
  RateScope
>;

/**
 * An anonymous chat request's admission in one round trip (chat-admit.lua): its key still live and
 * its origin verified (`keyAdmission`), its agent, its abuse limits (the agent's own, else the
 * service's defaults) and its stream lease. Throws 401 `invalid_public_key`, 403
 * `origin_not_allowed`, 404 `agent_not_found`, 429 `rate_limited` or 429 `too_many_streams` as the
 * separate steps would. The script goes out at once (before this returns), so steps sent next in the
 * same tick share its round trip.
 */
export interface AnonymousAdmission {
  /**
   * What a step sent right behind the admission, in its round trip, names to run only when the
   * turn was let in (lib/admission-gate.lua): the stream lease the admission takes.
   */
  gate: AdmissionGate;
  /** The agent (its record's JSON) and the stream lease, or the refusal. */
  admitted: Promise<{ agentJson: string; lease: StreamLease }>;
}

export function admitAnonymous(
  deps: LimitDeps & Pick<Deps, 'redis'>,
  caller: ChatCaller & { agentId: string; visitorId: string; key: KeyAdmission },
): AnonymousAdmission {
  const streams = deps.keys
    .organization(caller.organizationId)
    .visitorStreams(caller.agentId, `visitor:${caller.visitorId}`);
  const gate = { streams, leaseId: crypto.randomUUID() };
  return { gate, admitted: admit(deps, caller, gate) };
}

async function admit(
  deps: LimitDeps & Pick<Deps, 'redis'>,
  caller: ChatCaller & { agentId: string; visitorId: string; key: KeyAdmission },
  { streams, leaseId: id }: AdmissionGate,
): Promise<{ agentJson: string; lease: StreamLease }> {
  const keys = deps.keys.organization(caller.organizationId);
  const now = deps.clock.now().getTime();
  const { env } = deps;
  const { domains } = caller.key;
  const reply = await deps.scripts.chatAdmit(
    {
      agent: keys.entity('agent', caller.agentId),
      streams,
      embedKeyBucket: keys.rateBucket(`embed-key:${caller.embedKeyId}`),
      ipBucket: keys.rateBucket(`ip:${caller.agentId}:${caller.clientIp}`),
      visitorBucket: keys.rateBucket(`visitor:${caller.agentId}:${caller.visitorId}`),
      embedKeyEntity: caller.key.entityKey,
      verifiedDomains: caller.key.verifiedDomainsKey,
    },
    {
      nowMs: now,
      leaseExpiresAtMs: now + env.MCPSTACK_MODEL_TIMEOUT_MS + env.MCPSTACK_RESERVATION_GRACE_MS,
      leaseId: id,
      defaults: {
        maxStreamsPerVisitor: env.MCPSTACK_MAX_STREAMS_PER_VISITOR,
        embedKeyPerMinute: env.MCPSTACK_RATE_LIMIT_KEY_PER_MINUTE,
        ipPerMinute: env.MCPSTACK_RATE_LIMIT_IP_PER_MINUTE,
        visitorPerMinute: env.MCPSTACK_RATE_LIMIT_VISITOR_PER_MINUTE,
      },
      origin:
        domains.kind === 'any-of'
          ? { rule: 'any-of', domains: domains.domains }
          : { rule: domains.problem === null ? 'admitted' : 'refused' },
    },
  );
  switch (reply.status) {
    case 'ok':
      return { agentJson: reply.agentJson, lease: streamLease(deps, streams, id) };
    case 'limited':
      throw rateLimited(bucketScopes[reply.bucket], reply.retryAfterMs);
    case 'streams':
      throw tooManyStreams(reply.mostStreams);
    case 'revoked':
      throw embedKeyRefused();
    case 'origin':
      assertOriginAdmitted(caller.key, false);
      throw new Error('chat-admit.lua refused an origin that its check admits');
    default:
      throw new ApiError('agent_not_found', 'The agent of this embed key no longer exists');
  }
}
