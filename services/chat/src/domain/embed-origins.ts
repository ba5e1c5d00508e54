import type { Deps } from '../deps.ts';
import { isPublicSuffix } from './verified-domains.ts';

/**
 * Which origins an agent's embed may run on: with MCPSTACK_REQUIRE_VERIFIED_DOMAINS, https on a
 * domain the agent verified (verified-domains.ts), or a local origin where that is allowed.
 */

const localHosts = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Whether an origin's host is `localhost` or a loopback address (any port, http or https). */
export function isLocalOrigin(origin: string): boolean {
  return localHosts.has(new URL(origin).hostname);
}

/** Whether the origin is on one of the domains (the domain itself or a subdomain), over https. */
export function originOnDomains(origin: string, domains: Iterable<string>): boolean {
  const url = new URL(origin);
  if (url.protocol !== 'https:') return false;
  for (const domain of domains) {
    if (isPublicSuffix(domain)) continue;
    if (url.hostname === domain || url.hostname.endsWith(`.${domain}`)) return true;
  }
  return false;
}

/**
 * The rule for embed origins once verification is required (MCPSTACK_REQUIRE_VERIFIED_DOMAINS):
 * https on a verified domain of the agent, or a local origin when MCPSTACK_ALLOW_LOCALHOST_ORIGINS.
 * Returns why an origin is refused, or null when it is allowed.
 */
export function originProblem(env: Deps['env'], origin: string, verified: readonly string[]): string | null {
  if (!env.MCPSTACK_REQUIRE_VERIFIED_DOMAINS) return null;
  if (isLocalOrigin(origin)) {
    return env.MCPSTACK_ALLOW_LOCALHOST_ORIGINS
      ? null
      : `${origin} is a local origin: allowed only when the service runs with MCPSTACK_ALLOW_LOCALHOST_ORIGINS=true`;
  }
  if (originOnDomains(origin, verified)) return null;
  return new URL(origin).protocol !== 'https:'
    ? `${origin} is not https: embeds must be served over https`
    : `${origin} is not on a verified domain of this agent: add and confirm its domain first`;
}

/**
 * The same rule as `originProblem`, split so a script can decide it beside the request's other checks:
 * `problem` when the origin is refused without looking at the agent's domains (or null when it is
 * allowed without them), else `domains`, the verified domains that would admit it (the host and each
 * parent that is not a public suffix): any one of them in the agent's set admits the origin.
 */
export type VerifiedDomainCheck =
  | { kind: 'decided'; problem: string | null }
  | { kind: 'any-of'; domains: string[]; problem: string };

export function verifiedDomainCheck(env: Deps['env'], origin: string): VerifiedDomainCheck {
  const refused = originProblem(env, origin, []);
  if (refused === null || isLocalOrigin(origin) || new URL(origin).protocol !== 'https:') {
    return { kind: 'decided', problem: refused };
  }
  const labels = new URL(origin).hostname.split('.');
  const domains = labels
    .map((_, index) => labels.slice(index).join('.'))
    .filter((domain) => !isPublicSuffix(domain));
  return domains.length === 0
    ? { kind: 'decided', problem: refused }
    : { kind: 'any-of', domains, problem: refused };
}
