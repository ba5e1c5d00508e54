/**
 * The console's one door to the API: same origin, the session cookie rides along by itself, and
 * every request that changes something carries the session's CSRF token (kept in memory only).
 */
export interface Session {
  organizationId: string;
  keyId: string;
  keyName: string;
  role: 'admin' | 'developer' | 'viewer' | 'billing';
  permissions: string[];
  expiresAt: string;
  csrfToken: string;
}

/** An error as the API answers it: `{ error: { code, message, status, … } }`. */
export class ApiFailure extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: Record<string, unknown>;
  constructor(code: string, message: string, status: number, details: Record<string, unknown> = {}) {
    super(message);
    this.code = code;
    this.status = status;
    this.details = details;
  }

  /** What a failed promise gave, as an `ApiFailure` (a bug in the console is a `client_error`). */
  static from(error: unknown): ApiFailure {
    return error instanceof ApiFailure ? error : new ApiFailure('client_error', String(error), 0);
  }
}

let csrfToken: string | null = null;
let onSignedOut: () => void = () => undefined;

export function useSession(session: Session | null, signedOut: () => void): void {
  csrfToken = session?.csrfToken ?? null;
  onSignedOut = signedOut;
}

async function failureOf(response: Response): Promise<ApiFailure> {
  try {
    const body = (await response.json()) as { error?: Record<string, unknown> };
    const error = body.error ?? {};
    return new ApiFailure(
      String(error.code ?? 'http_error'),
      String(error.message ?? response.statusText),
      response.status,
      error,
    );
  } catch {
    return new ApiFailure('http_error', `${response.status} ${response.statusText}`, response.status);
  }
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? null : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiFailure('network_error', `The service did not answer (${String(error)})`, 0);
  }
  if (!response.ok) {
    const failure = await failureOf(response);
    if (failure.code === 'session_expired' && !path.endsWith('/console/session')) onSignedOut();
    throw failure;
  }
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

/** The path of an organization resource: `org('agents')` → `/api/v1/organizations/org_…/agents`. */
let organizationId = '';
export function setOrganization(id: string): void {
  organizationId = id;
}
export function org(path: string): string {
  return `/api/v1/organizations/${organizationId}/${path}`;
}

export function query(parameters: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(parameters)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

export const signIn = (key: string) => api<Session>('POST', '/api/v1/console/session', { key });
export const whoAmI = () => api<Session>('GET', '/api/v1/console/session');
export const signOut = () => api<void>('DELETE', '/api/v1/console/session');
