import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { getDomain } from 'tldts';
import { z } from 'zod';
import type { Deps } from '../deps.ts';
import { ApiError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { VerifiedDomainRecord } from '../storage/records.ts';
import { randomHex } from './crypto.ts';

type DomainDeps = Pick<Deps, 'redis' | 'keys' | 'clock' | 'stores' | 'env' | 'logger'>;

async function getAgent(deps: DomainDeps, organizationId: string, agentId: string): Promise<void> {
  if (!(await deps.stores.agents.get(organizationId, agentId))) {
    throw new ApiError('agent_not_found', `No agent ${agentId} in this organization`);
  }
}

/** The TXT record a domain owner publishes: `_mcpstack-verify.<domain>` = `mcpstack-verify=<token>`. */
export const recordNamePrefix = '_mcpstack-verify.';
export const recordValuePrefix = 'mcpstack-verify=';

/**
 * A registrable-looking DNS name, normalized: lowercase, punycode for internationalized names, no
 * trailing dot. IP addresses, single labels and `localhost` are not domains one can verify.
 */
export function normalizeDomain(raw: string): string | null {
  const trimmed = raw.trim().replace(/\.$/, '');
  if (trimmed === '' || trimmed.length > 253 || /[/:@\s*]/.test(trimmed)) return null;
  const ascii = domainToASCII(trimmed);
  if (ascii === '' || isIP(ascii) !== 0) return null;
  const labels = ascii.split('.');
  if (labels.length < 2 || labels.some((label) => !/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(label)))
    return null;
  if (ascii === 'localhost' || ascii.endsWith('.localhost')) return null;
  return ascii;
}

/**
 * Whether a name is a public suffix (`co.uk`) or one of the private ones (`github.io`,
 * `s3.amazonaws.com`): anyone can publish under it, so proving control of it would let one
 * customer's embed run on everyone's sites. tldts carries the Public Suffix List, private
 * section included.
 */
export function isPublicSuffix(domain: string): boolean {
  return getDomain(domain, { allowPrivateDomains: true }) === null;
}

function assertRegistrable(domain: string): void {
  if (isPublicSuffix(domain)) {
    throw new ApiError(
      'public_suffix_not_allowed',
      `domain: ${domain} is a public suffix (anyone can register names under it); verify your own domain under it, e.g. yours.${domain}`,
      { domain },
    );
  }
}

export const createDomainInput = z
  .object({
    domain: z
      .string()
      .max(300)
      .transform((value, context) => {
        const domain = normalizeDomain(value);
        if (domain === null) {
          context.addIssue({
            code: 'custom',
            message: 'must be a domain name like example.com (no scheme, path, port, IP address or wildcard)',
          });
          return z.NEVER;
        }
        return domain;
      })
      .describe('The domain to verify, e.g. example.com; its subdomains are covered too. IDN allowed.'),
  })
  .strict();

export interface DomainView {
  id: string;
  agentId: string;
  domain: string;
  status: 'pending' | 'verified';
  verifiedAt: string | null;
  dnsRecord: { type: 'TXT'; name: string; value: string };
  createdAt: string;
}

export function viewDomain(record: VerifiedDomainRecord): DomainView {
  return {
    id: record.id,
    agentId: record.agentId,
    domain: record.domain,
    status: record.verifiedAt ? 'verified' : 'pending',
    verifiedAt: record.verifiedAt,
    dnsRecord: {
      type: 'TXT',
      name: `${recordNamePrefix}${record.domain}`,
      value: `${recordValuePrefix}${record.token}`,
    },
    createdAt: record.createdAt,
  };
}

async function agentDomains(deps: DomainDeps, organizationId: string, agentId: string) {
  return (await deps.stores.verifiedDomains.all(organizationId)).filter(
    (record) => record.agentId === agentId,
  );
}

export async function listDomains(
  deps: DomainDeps,
  organizationId: string,
  agentId: string,
): Promise<DomainView[]> {
  await getAgent(deps, organizationId, agentId);
  return (await agentDomains(deps, organizationId, agentId)).map(viewDomain);
}

export async function addDomain(
  deps: DomainDeps,
  organizationId: string,
  agentId: string,
  domain: string,
): Promise<DomainView> {
  assertRegistrable(domain);
  await getAgent(deps, organizationId, agentId);
  const existing = (await agentDomains(deps, organizationId, agentId)).find(
    (record) => record.domain === domain,
  );
  if (existing) {
    throw new ApiError('domain_exists', `${domain} is already added to this agent`, {
      domainId: existing.id,
    });
  }
  const record: VerifiedDomainRecord = {
    id: newId('domain'),
    organizationId,
    agentId,
    domain,
    token: randomHex(16),
    verifiedAt: null,
    createdAt: deps.clock.now().toISOString(),
  };
  await deps.stores.verifiedDomains.create(organizationId, record);
  return viewDomain(record);
}

const domainNotFound = (agentId: string, domainId: string) =>
  new ApiError('domain_not_found', `No domain ${domainId} on agent ${agentId}`);

/** The agent's domain: agent_not_found without the agent, domain_not_found when it has no such domain. */
async function requireDomain(deps: DomainDeps, organizationId: string, agentId: string, domainId: string) {
  await getAgent(deps, organizationId, agentId);
  const record = await deps.stores.verifiedDomains.get(organizationId, domainId);
  if (!record || record.agentId !== agentId) throw domainNotFound(agentId, domainId);
  return record;
}

/** `MCPSTACK_DNS_SERVERS`, e.g. `127.0.0.1:5353,1.1.1.1`; the system's resolvers when unset. */
function resolverFor(env: Deps['env']): Resolver {
  const resolver = new Resolver({ timeout: 3000, tries: 2 });
  const servers = env.MCPSTACK_DNS_SERVERS?.split(',')
    .map((server) => server.trim())
    .filter((server) => server !== '');
  if (servers && servers.length > 0) resolver.setServers(servers);
  return resolver;
}

/**
 * Looks the TXT record up over real DNS and marks the domain verified when one of the TXT records
 * (its strings joined, as a TXT record longer than 255 bytes is split) equals the expected value.
 * Otherwise 409 `domain_verification_failed` with what was found and why it does not match.
 */
export async function confirmDomain(
  deps: DomainDeps,
  organizationId: string,
  agentId: string,
  domainId: string,
): Promise<DomainView> {
  const record = await requireDomain(deps, organizationId, agentId, domainId);
  // A suffix added before this check existed is never confirmed (and never covers origins below).
  assertRegistrable(record.domain);
  const view = viewDomain(record);
  if (record.verifiedAt) return view;
  const expected = view.dnsRecord;
  let found: string[] = [];
  let lookupError: string | null = null;
  try {
    found = (await resolverFor(deps.env).resolveTxt(expected.name)).map((chunks) => chunks.join(''));
  } catch (error) {
    const code = (error as { code?: string }).code;
    lookupError =
      code === 'ENOTFOUND' || code === 'ENODATA'
        ? `No TXT record exists at ${expected.name} yet (DNS changes can take a few minutes to appear)`
        : `The DNS lookup of ${expected.name} failed (${code ?? String(error)}); try again shortly`;
  }
  if (!found.includes(expected.value)) {
    const reason =
      lookupError ??
      (found.length === 0
        ? `No TXT record exists at ${expected.name} yet`
        : `${found.length} TXT record(s) found at ${expected.name}, none equal to ${expected.value}`);
    throw new ApiError('domain_verification_failed', reason, { expected, found });
  }
  const result = await deps.stores.verifiedDomains.update(organizationId, domainId, (current) => ({
    ...current,
    verifiedAt: current.verifiedAt ?? deps.clock.now().toISOString(),
  }));
  if (result.status !== 'updated') throw domainNotFound(agentId, domainId);
  await deps.redis.sadd(deps.keys.organization(organizationId).agentVerifiedDomains(agentId), record.domain);
  deps.logger.info({ organizationId, agentId, domain: record.domain }, 'domain verified');
  return viewDomain(result.value);
}

export async function removeDomain(
  deps: DomainDeps,
  organizationId: string,
  agentId: string,
  domainId: string,
): Promise<void> {
  const record = await requireDomain(deps, organizationId, agentId, domainId);
  // The set the chat API reads first: the domain's origins stop working on the next request.
  await deps.redis.srem(deps.keys.organization(organizationId).agentVerifiedDomains(agentId), record.domain);
  await deps.stores.verifiedDomains.remove(organizationId, domainId);
}

export async function verifiedDomainsOf(
  deps: Pick<Deps, 'redis' | 'keys'>,
  organizationId: string,
  agentId: string,
): Promise<string[]> {
  return deps.redis.smembers(deps.keys.organization(organizationId).agentVerifiedDomains(agentId));
}

/** When the agent is deleted: its domains go with it. */
export async function removeAgentDomains(
  deps: Pick<Deps, 'redis' | 'keys' | 'stores'>,
  organizationId: string,
  agentId: string,
): Promise<void> {
  await deps.redis.del(deps.keys.organization(organizationId).agentVerifiedDomains(agentId));
  for (const record of await deps.stores.verifiedDomains.all(organizationId)) {
    if (record.agentId === agentId) await deps.stores.verifiedDomains.remove(organizationId, record.id);
  }
}
