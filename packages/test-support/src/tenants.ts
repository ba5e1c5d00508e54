import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { type ApiCall, requestOk } from './api.ts';

/**
 * Tenants seeded the way a customer makes them: through the public HTTP API, as the operator and
 * then with the organization's own keys. Each step checks its status and throws, naming the step,
 * when the service refuses it.
 */

export const roles = ['admin', 'developer', 'viewer', 'billing'] as const;
export type Role = (typeof roles)[number];

export interface Organization<R extends Role = Role> {
  organizationId: string;
  slug: string;
  /** A full API key (`mcpstack_sk_…`) for each role asked for. */
  keys: Record<R, string>;
}

/** Who acts inside an organization: its id and one of its API keys. */
export interface Actor {
  organizationId: string;
  token: string;
}

/** The organization acting with its key of `role`. */
export function actingAs<R extends Role>(organization: Organization<R>, role: R): Actor {
  return { organizationId: organization.organizationId, token: organization.keys[role] };
}

export function uniqueSlug(base = 'org'): string {
  return `${base}-${randomBytes(4).toString('hex')}`;
}

export const organizationPath = (organizationId: string) => `/api/v1/organizations/${organizationId}`;
const agentPath = (actor: Actor, agentId: string) =>
  `${organizationPath(actor.organizationId)}/agents/${agentId}`;

const created = z.object({ id: z.string() });

export interface OrganizationOptions<R extends Role> {
  slug?: string;
  /** `Org <slug>` unless given. */
  name?: string;
  /** The roles to make a key of (every role unless given). */
  roles?: readonly R[];
  /** The key's name (`<role>-key` unless given). */
  keyName?: (role: R) => string;
  /** The operator token; undefined is the caller's default. */
  token?: string;
}

/** An organization (as the operator) and an API key of each role asked for. */
export async function createOrganization<R extends Role = Role>(
  call: ApiCall,
  options: OrganizationOptions<R> = {},
): Promise<Organization<R>> {
  const slug = options.slug ?? uniqueSlug();
  const organization = await requestOk(
    call,
    'POST',
    '/api/v1/organizations',
    { token: options.token, body: { name: options.name ?? `Org ${slug}`, slug }, status: 201 },
    created,
  );
  const keys = {} as Record<R, string>;
  for (const role of options.roles ?? (roles as readonly Role[] as readonly R[])) {
    const key = await requestOk(
      call,
      'POST',
      `${organizationPath(organization.id)}/api-keys`,
      { token: options.token, body: { name: options.keyName?.(role) ?? `${role}-key`, role }, status: 201 },
      z.object({ fullKey: z.string() }),
    );
    keys[role] = key.fullKey;
  }
  return { organizationId: organization.id, slug, keys };
}

/** An agent of the organization; `body` is the request's (name, model, instructions, …). Its id. */
export async function createAgent(
  call: ApiCall,
  actor: Actor,
  body: Record<string, unknown>,
): Promise<string> {
  const agentsPath = `${organizationPath(actor.organizationId)}/agents`;
  return (await requestOk(call, 'POST', agentsPath, { token: actor.token, body, status: 201 }, created)).id;
}

/** Registers an MCP server (`{ name, slug, url, headers? }`) for the organization's agents. Its id. */
export async function createMcpServer(
  call: ApiCall,
  actor: Actor,
  body: { name: string; slug: string; url: string; headers?: Record<string, string> },
): Promise<string> {
  const serversPath = `${organizationPath(actor.organizationId)}/mcp-servers`;
  return (await requestOk(call, 'POST', serversPath, { token: actor.token, body, status: 201 }, created)).id;
}

export interface EmbedKeyBody {
  allowedOrigins: string[];
  name?: string;
}

/** An embed key of the agent for pages on `allowedOrigins`. Its public key (`mcpstack_pk_…`). */
export async function createEmbedKey(
  call: ApiCall,
  actor: Actor,
  agentId: string,
  body: EmbedKeyBody,
): Promise<string> {
  const path = `${agentPath(actor, agentId)}/embed-keys`;
  const key = await requestOk(
    call,
    'POST',
    path,
    { token: actor.token, body, status: 201 },
    z.object({ publicKey: z.string() }),
  );
  return key.publicKey;
}

/** PATCHes the agent's budget settings (`{ enabled: true, monthlyBudgetUsd: 5 }`, …). */
export async function setAgentBudget(
  call: ApiCall,
  actor: Actor,
  agentId: string,
  body: Record<string, unknown>,
): Promise<void> {
  const path = `${agentPath(actor, agentId)}/budget`;
  await requestOk(call, 'PATCH', path, { token: actor.token, body, status: 200 });
}

/** A new HS256 identity secret for the agent (the page's backend signs user tokens with it). */
export async function createIdentitySecret(call: ApiCall, actor: Actor, agentId: string): Promise<string> {
  const path = `${agentPath(actor, agentId)}/identity-secret`;
  const created = await requestOk(
    call,
    'POST',
    path,
    { token: actor.token, status: 201 },
    z.object({ secret: z.string() }),
  );
  return created.secret;
}

export interface ChatAgentOptions {
  agent: Record<string, unknown>;
  /** Set before the embed key is made, when given. */
  budget?: Record<string, unknown>;
  embedKey: EmbedKeyBody;
}

export interface ChatAgent {
  agentId: string;
  publicKey: string;
}

/** An agent a page can chat with: the agent, its budget when given, and an embed key. */
export async function createChatAgent(
  call: ApiCall,
  actor: Actor,
  options: ChatAgentOptions,
): Promise<ChatAgent> {
  const agentId = await createAgent(call, actor, options.agent);
  if (options.budget) await setAgentBudget(call, actor, agentId, options.budget);
  return { agentId, publicKey: await createEmbedKey(call, actor, agentId, options.embedKey) };
}

export interface ChatTenant extends ChatAgent {
  organizationId: string;
  adminKey: string;
}

/**
 * A whole tenant for chat traffic: an organization with an admin key, and an agent (budgeted when
 * asked) with an embed key, the admin key acting.
 */
export async function seedTenant(
  call: ApiCall,
  options: ChatAgentOptions & { organization?: Omit<OrganizationOptions<'admin'>, 'roles'> },
): Promise<ChatTenant> {
  const organization = await createOrganization(call, { ...options.organization, roles: ['admin'] });
  const agent = await createChatAgent(call, actingAs(organization, 'admin'), options);
  return { organizationId: organization.organizationId, adminKey: organization.keys.admin, ...agent };
}
