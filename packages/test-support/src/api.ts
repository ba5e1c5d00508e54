import type { z } from 'zod';

export interface ApiRequest {
  /** The bearer token; undefined is the caller's default, null sends none. */
  token?: string | null;
  /** Sent as JSON. */
  body?: unknown;
}

export interface ApiResponse {
  status: number;
  text: string;
  /** The JSON body (the text when it is not JSON, undefined when empty). */
  body: unknown;
}

/**
 * One request to the service's HTTP API. The test harness's `service.call` is one; `apiClient` makes
 * one for a service this process did not start (a child process, the demo's).
 */
export type ApiCall = (method: string, path: string, options?: ApiRequest) => Promise<ApiResponse>;

/** `fetch` against the service at `baseUrl`, JSON in and out; `token` is the default bearer. */
export function apiClient(baseUrl: string, token: string | null = null): ApiCall {
  return async (method, path, options = {}) => {
    const bearer = options.token === undefined ? token : options.token;
    const headers: Record<string, string> = {};
    if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await response.text();
    return { status: response.status, text, body: parseJson(text) };
  };
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Sends a request that must succeed with `status` and returns its body, with the fields `schema`
 * reads checked when given; throws with the method, path, status and body otherwise, so a seeding
 * step that fails says which and why.
 */
export async function requestOk(
  call: ApiCall,
  method: string,
  path: string,
  options: ApiRequest & { status: number },
): Promise<unknown>;
export async function requestOk<Schema extends z.ZodType>(
  call: ApiCall,
  method: string,
  path: string,
  options: ApiRequest & { status: number },
  schema: Schema,
): Promise<z.infer<Schema>>;
export async function requestOk(
  call: ApiCall,
  method: string,
  path: string,
  options: ApiRequest & { status: number },
  schema?: z.ZodType,
): Promise<unknown> {
  const response = await call(method, path, options);
  if (response.status !== options.status) {
    throw new Error(`${method} ${path}: ${response.status} (expected ${options.status}) ${response.text}`);
  }
  if (!schema) return response.body;
  const parsed = schema.safeParse(response.body);
  if (!parsed.success)
    throw new Error(`${method} ${path}: unexpected body ${response.text}: ${parsed.error.message}`);
  return parsed.data;
}
