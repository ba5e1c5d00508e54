/**
 * OpenAI's error body, `{ error: { message, type, param, code } }`, which the AI SDK's OpenAI provider
 * parses into an `APICallError` (it is not this repository's `{ error: { code, message, status, requestId } }`:
 * the local model speaks OpenAI's wire format, not ours).
 */

export type OpenAIErrorType = 'invalid_request_error' | 'server_error';

export interface OpenAIError {
  status: number;
  body: { error: { message: string; type: OpenAIErrorType; param: string | null; code: string | null } };
}

function openAIError(
  status: number,
  type: OpenAIErrorType,
  message: string,
  param: string | null = null,
  code: string | null = null,
): OpenAIError {
  return { status, body: { error: { message, type, param, code } } };
}

export function invalidRequest(
  message: string,
  param: string | null = null,
  code: string | null = null,
): OpenAIError {
  return openAIError(400, 'invalid_request_error', message, param, code);
}

export function invalidJson(): OpenAIError {
  return invalidRequest(
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
  );
}

export function bodyTooLarge(limitBytes: number): OpenAIError {
  return openAIError(413, 'invalid_request_error', `The request body is larger than ${limitBytes} bytes.`);
}

/** OpenAI answers 401 with `invalid_request_error`, code `invalid_api_key` when a key is wrong. */
export function missingApiKey(): OpenAIError {
  return openAIError(
    401,
    'invalid_request_error',
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
  );
}

export function incorrectApiKey(): OpenAIError {
  return openAIError(401, 'invalid_request_error', 'Incorrect API key provided.', null, 'invalid_api_key');
}

export function routeNotFound(method: string, path: string): OpenAIError {
  return openAIError(404, 'invalid_request_error', `Invalid URL (${method} ${path})`);
}

export function serverError(): OpenAIError {
  return openAIError(
    500,
    'server_error',
    'The server had an error while processing your request. Sorry about that!',
  );
}
