/**
 * The one permission table of the product (SPEC, "Identity and authorization"). Routes name the
 * permission they need; nothing else in the code compares roles.
 */
export const roleKeys = ['admin', 'developer', 'viewer', 'billing'] as const;
export type RoleKey = (typeof roleKeys)[number];

export const permissions = [
  'organization:read',
  'organization:manage',
  /** Agents, MCP servers, budgets, embed keys and verified domains. */
  'agents:read',
  'agents:manage',
  /** Usage reports and LLM-call records. */
  'usage:read',
  /** The AI-credit summary and ledger. */
  'billing:read',
  /** Buying AI credits. */
  'billing:manage',
  /** Granting or debiting AI credits by hand (adjustments): admins only. */
  'billing:adjust',
  /** Service-account keys and members. */
  'keys:manage',
] as const;
export type Permission = (typeof permissions)[number];

export const roles: Record<RoleKey, { name: string; description: string; grants: readonly Permission[] }> = {
  admin: {
    name: 'Admin',
    description: 'Everything, including keys, members, deleting the organization and buying credits.',
    grants: permissions,
  },
  developer: {
    name: 'Developer',
    description: 'Manages agents, MCP servers, budgets, embed keys and domains; reads usage and billing.',
    grants: ['organization:read', 'agents:read', 'agents:manage', 'usage:read', 'billing:read'],
  },
  viewer: {
    name: 'Viewer',
    description: 'Reads agents, MCP servers, budgets and usage.',
    grants: ['organization:read', 'agents:read', 'usage:read'],
  },
  billing: {
    name: 'Billing',
    description: 'Finance: reads usage and the credit ledger, buys AI credits.',
    grants: ['organization:read', 'usage:read', 'billing:read', 'billing:manage'],
  },
};

/**
 * The operator (MCPSTACK_ADMIN_TOKEN) creates organizations and their first keys. It is not a
 * member of any organization, so it does not read or manage their agents, usage or money.
 */
export const operatorGrants: readonly Permission[] = [
  'organization:read',
  'organization:manage',
  'keys:manage',
];

export type Principal =
  /** Public routes (health, OpenAPI): granted nothing. */
  | { kind: 'anonymous' }
  | { kind: 'operator' }
  | {
      kind: 'service_account';
      organizationId: string;
      keyId: string;
      clientId: string;
      name: string;
      roleKey: RoleKey;
      /** Set when the key came through a console session cookie (domain/console/sessions.ts). */
      sessionId?: string;
    };

/** A principal that presented a valid credential. */
export type AuthenticatedPrincipal = Exclude<Principal, { kind: 'anonymous' }>;

export function isGranted(principal: Principal, permission: Permission): boolean {
  if (principal.kind === 'anonymous') return false;
  const grants = principal.kind === 'operator' ? operatorGrants : roles[principal.roleKey].grants;
  return grants.includes(permission);
}

/** Whether the principal can see the organization at all (another organization is a 404). */
export function canSeeOrganization(principal: Principal, organizationId: string): boolean {
  if (principal.kind === 'anonymous') return false;
  return principal.kind === 'operator' || principal.organizationId === organizationId;
}
