import createClient, { type Client } from 'openapi-fetch';
import { ApiRefusal } from './errors.ts';
import type { paths } from './generated/api.d.ts';
import { version } from './version.ts';

/** Typed by the JSON answers: the CLI reads another media type (the ledger's CSV) as a stream. */
export type ApiClient = Client<paths, 'application/json'>;

/** A client of the public API, typed by the OpenAPI document the service generates. */
export function createApiClient(apiUrl: string, apiKey: string | undefined): ApiClient {
  return createClient<paths, 'application/json'>({
    baseUrl: apiUrl,
    headers: {
      'user-agent': `mcpstack-cli/${version}`,
      ...(apiKey !== undefined && { authorization: `Bearer ${apiKey}` }),
    },
  });
}

export interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

function errorBody(value: unknown): { code?: unknown; message?: unknown } | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const error = (value as { error?: unknown }).error;
  return typeof error === 'object' && error !== null
    ? (error as { code?: unknown; message?: unknown })
    : undefined;
}

/** The API's error, as the CLI reports it: its stable `code` and its message. */
export function refusalOf(response: Response, body: unknown): ApiRefusal {
  const error = errorBody(body);
  const code = typeof error?.code === 'string' ? error.code : `http_${response.status}`;
  const message =
    typeof error?.message === 'string'
      ? error.message
      : `${response.status} ${response.statusText}`.trim() || 'the API refused the request';
  return new ApiRefusal(code, message, response.status);
}

/** Awaits one call: its data when the API said yes, an `ApiRefusal` otherwise. */
export async function unwrap<T>(apiUrl: string, pending: Promise<Answer<T>>): Promise<T> {
  return (await answerOf(apiUrl, pending)).data as T;
}

/** Like `unwrap`, with the response too (its headers). */
export async function answerOf<T>(apiUrl: string, pending: Promise<Answer<T>>): Promise<Answer<T>> {
  let answer: Answer<T>;
  try {
    answer = await pending;
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
    throw new ApiRefusal('connection_failed', `Could not reach the API at ${apiUrl} (${reason})`, null);
  }
  if (!answer.response.ok) throw refusalOf(answer.response, answer.error);
  return answer;
}
