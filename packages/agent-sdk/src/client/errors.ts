import { requestIdHeader, retryAfterHeader } from '@mcpstack/chat-protocol';

/**
 * The codes a chat client can meet: the service's (`{ error: { code } }`, see the service's
 * errors.ts) plus the client's own for what never reached the service.
 */
export type ChatErrorCode =
  | 'budget_exceeded'
  | 'rate_limited'
  | 'invalid_public_key'
  | 'secret_key_not_allowed'
  | 'origin_required'
  | 'origin_not_allowed'
  | 'conversation_not_found'
  | 'conversation_too_long'
  /** A message sent again after its answer finished (the client then shows the stored answer). */
  | 'message_already_answered'
  | 'message_too_long'
  | 'payload_too_large'
  | 'validation_failed'
  | 'agent_not_found'
  | 'service_unavailable'
  | 'internal_error'
  /** The service could not be reached (offline, DNS, or a CORS refusal the browser hides). */
  | 'network_error'
  /** The answer stopped with an `error` chunk; the message is the service's text for visitors. */
  | 'stream_error'
  /** The connection dropped in the middle of an answer. */
  | 'stream_interrupted'
  /** A user token was refused; the visitor goes on anonymously (not fatal). */
  | 'invalid_user_token'
  | 'expired_user_token'
  | (string & {});

export type BudgetScope = 'agent' | 'user' | 'anonymous' | 'credits';

/** A failure of the chat, with what the service said about it. Show `friendlyMessage(error)` to visitors. */
export class ChatError extends Error {
  override name = 'ChatError';
  readonly code: ChatErrorCode;
  /** The HTTP status, or 0 when no response came. */
  declare readonly status: number;
  /** For `budget_exceeded`: which cap was reached. */
  declare readonly scope: BudgetScope | undefined;
  /** For `budget_exceeded`: when the cap resets (ISO 8601), if it does. */
  declare readonly resetsAt: string | undefined;
  /** For `rate_limited` and `service_unavailable`: seconds to wait (`Retry-After`). */
  declare readonly retryAfterSeconds: number | undefined;
  /** The service's request id, for support. */
  declare readonly requestId: string | undefined;
  /** Everything else the error body carried (e.g. `maxChars`). */
  declare readonly details: Record<string, unknown>;

  // Fields assigned in one go: every byte of this file ships in the script tag's 15 KB.
  /** `message` is for developers (the code in words by default); visitors get `friendlyMessage`. */
  constructor(
    code: ChatErrorCode,
    message?: string,
    fields: Partial<
      Pick<ChatError, 'status' | 'scope' | 'resetsAt' | 'retryAfterSeconds' | 'requestId' | 'details'>
    > = {},
  ) {
    super(message ?? code.replace(/_/g, ' '));
    this.code = code;
    Object.assign(this, { status: 0, details: {} }, fields);
  }

  /** Whether sending again can help (a budget or a bad key will not change by retrying). */
  get retryable(): boolean {
    return !/^(budget_e|invalid_p|secret|origin|message_too|conversation_too|invalid_u|expired)/.test(
      this.code,
    );
  }
}

const scopes: readonly string[] = ['agent', 'user', 'anonymous', 'credits'];

/** `Retry-After` as seconds: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** The ChatError a non-2xx response stands for (its body is read and checked, never trusted). */
export async function errorFromResponse(response: Response): Promise<ChatError> {
  let body: Record<string, unknown> = {};
  try {
    const json: unknown = await response.json();
    const error = (json as { error?: unknown } | null)?.error;
    if (typeof error === 'object' && error !== null) body = error as Record<string, unknown>;
  } catch {
    // not JSON (a proxy's page): the status alone speaks
  }
  const { code, message, status, scope, resetsAt, requestId, ...details } = body;
  const fallback =
    response.status === 429
      ? 'rate_limited'
      : response.status >= 500
        ? 'service_unavailable'
        : 'internal_error';
  return new ChatError(
    typeof code === 'string' ? code : fallback,
    typeof message === 'string' ? message : `The service answered ${response.status}`,
    {
      status: response.status,
      scope: typeof scope === 'string' && scopes.includes(scope) ? (scope as BudgetScope) : undefined,
      resetsAt: typeof resetsAt === 'string' ? resetsAt : undefined,
      retryAfterSeconds: parseRetryAfter(response.headers.get(retryAfterHeader)),
      requestId:
        typeof requestId === 'string' ? requestId : (response.headers.get(requestIdHeader) ?? undefined),
      details,
    },
  );
}

export function day(iso: string | undefined): string | undefined {
  if (!iso) return undefined;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return undefined;
  return date.toLocaleDateString(undefined, { month: 'long', day: 'numeric', timeZone: 'UTC' });
}

/** "30 seconds", "2 minutes", "1 hour": when to try again. */
export function waitText(seconds: number): string {
  const [amount, unit] =
    seconds < 60
      ? [Math.max(1, Math.ceil(seconds)), 'second']
      : seconds < 3600
        ? [Math.ceil(seconds / 60), 'minute']
        : [Math.ceil(seconds / 3600), 'hour'];
  return `${amount} ${unit}${amount === 1 ? '' : 's'}`;
}

/**
 * What to tell the visitor, specific to the failure: whose limit was reached and until when, when
 * to retry, whether it is their connection or the site's setup.
 */
export function friendlyMessage(error: ChatError): string {
  const resets = day(error.resetsAt);
  switch (error.code) {
    case 'budget_exceeded':
      switch (error.scope) {
        case 'user':
          return `You have reached your monthly limit for this assistant.${resets ? ` It resets on ${resets}.` : ''}`;
        case 'anonymous':
          return `This assistant has reached its monthly limit for guests. Sign in, or come back${resets ? ` on ${resets}` : ' later'}.`;
        case 'credits':
          return 'This assistant is unavailable right now: it has run out of credits.';
        default:
          return `This assistant has reached its monthly limit.${resets ? ` It will be back on ${resets}.` : ''}`;
      }
    case 'budget_busy':
    case 'too_many_streams':
      return 'Many answers are in progress right now. Try again in a moment.';
    case 'rate_limited':
      return error.retryAfterSeconds !== undefined
        ? `You are sending messages too quickly. Try again in ${waitText(error.retryAfterSeconds)}.`
        : 'You are sending messages too quickly. Try again in a moment.';
    case 'network_error':
      return 'Could not reach the assistant. Check your connection and try again.';
    case 'stream_interrupted':
      return 'The connection was lost during the answer. Try again.';
    case 'invalid_public_key':
    case 'secret_key_not_allowed':
      return 'This chat is not set up correctly (its key is not valid), so it cannot answer.';
    case 'origin_required':
    case 'origin_not_allowed':
      return 'This chat is not enabled on this website, so it cannot answer.';
    case 'message_too_long': {
      const max = error.details.maxChars;
      return `Your message is too long${typeof max === 'number' ? ` (the limit is ${max} characters)` : ''}. Shorten it and send again.`;
    }
    case 'conversation_too_long':
      return 'This conversation has reached its length limit. Start a new conversation to go on.';
    case 'invalid_user_token':
      return 'Your sign-in could not be verified, so you are chatting as a guest.';
    case 'expired_user_token':
      return 'Your session has expired, so you are chatting as a guest. Reload the page to sign in again.';
    case 'stream_error':
      return error.message;
    default:
      return error.status >= 500 || error.status === 0
        ? 'The assistant is unavailable right now. Please try again in a moment.'
        : error.message || 'Something went wrong. Please try again.';
  }
}
