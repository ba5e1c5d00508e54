/**
 * What a refusal of the chat API says about itself, beside its code: which limit refused
 * (`limitSource`), whether the same request can succeed later (`retryable`), when (`retryAfterSeconds`,
 * `resetsAt`), and what the site owner can do (`remedy`, documented per code in the README). The
 * widget maps `limitSource` (and `reason`) to its own message for the visitor.
 */
export type LimitSource = 'agent' | 'user' | 'anonymous' | 'credits' | 'rate' | 'in_flight' | 'origin';

export type RefusalDetails = {
  limitSource: LimitSource;
  retryable: boolean;
  retryAfterSeconds?: number;
  resetsAt?: string | null;
  remedy: string;
};

export const remedies = {
  agent: "Raise the agent's monthlyBudgetUsd (PATCH …/agents/{agentId}/budget), or wait for the reset.",
  user: "Raise this user's cap (PUT …/external-users/{externalUserId}/budget) or defaultUserBudgetUsd, or wait for the reset.",
  anonymous:
    'Raise anonymousMonthlyBudgetUsd, or ask visitors to sign in (a user token) so their own caps apply.',
  credits: 'Buy AI credits (POST …/ai-credits/checkout-session); chat resumes at once.',
  messageLargerThanCap:
    "One answer's cost bound (the request's size plus maxOutputTokens) is above the whole cap: raise the cap, lower the agent's maxOutputTokens, or shorten the conversation.",
  busy: 'Answers in progress hold the rest of the cap and settle within seconds. A cap that fits more answers at once, or a lower maxOutputTokens (a smaller hold per answer), avoids this.',
  rate: "Raise the agent's rateLimits (embedKeyPerMinute, visitorPerMinute, ipPerMinute) or the MCPSTACK_RATE_LIMIT_* defaults.",
  streams: "Raise the agent's rateLimits.maxStreamsPerVisitor (default MCPSTACK_MAX_STREAMS_PER_VISITOR).",
  origin:
    "Add the site's origin to the embed key's allowedOrigins, and verify its domain (POST …/agents/{agentId}/verified-domains) unless MCPSTACK_REQUIRE_VERIFIED_DOMAINS=false.",
} as const;

/** Seconds from now until `at` (at least 1). */
export function secondsUntil(now: Date, at: Date): number {
  return Math.max(1, Math.ceil((at.getTime() - now.getTime()) / 1000));
}
