/**
 * Every failure a client can act on has a stable snake_case code, and each code one HTTP status.
 * Clients switch on `code`; the message is for humans and may change.
 */
export const errorStatus = {
  // 400
  invalid_json: 400,
  invalid_body: 400,
  invalid_path_parameter: 400,
  validation_failed: 400,
  invalid_url: 400,
  private_url_not_allowed: 400,
  unknown_model: 400,
  unknown_mcp_server: 400,
  origin_not_verified: 400,
  public_suffix_not_allowed: 400,
  invalid_signature: 400,
  // 401
  unauthenticated: 401,
  invalid_api_key: 401,
  invalid_public_key: 401,
  secret_key_not_allowed: 401,
  session_expired: 401,
  // 402
  budget_exceeded: 402,
  // 403
  insufficient_permissions: 403,
  origin_required: 403,
  origin_not_allowed: 403,
  cross_site_request: 403,
  csrf_token_invalid: 403,
  // 404
  not_found: 404,
  organization_not_found: 404,
  api_key_not_found: 404,
  agent_not_found: 404,
  mcp_server_not_found: 404,
  embed_key_not_found: 404,
  tool_not_found: 404,
  conversation_not_found: 404,
  domain_not_found: 404,
  checkout_session_not_found: 404,
  webhook_endpoint_not_found: 404,
  webhook_delivery_not_found: 404,
  // 405
  method_not_allowed: 405,
  // 409
  slug_taken: 409,
  mcp_server_in_use: 409,
  tool_disabled: 409,
  conversation_too_long: 409,
  message_already_answered: 409,
  insufficient_credits: 409,
  domain_exists: 409,
  domain_verification_failed: 409,
  // 413, 415
  payload_too_large: 413,
  message_too_long: 413,
  unsupported_media_type: 415,
  unsupported_content_encoding: 415,
  // 429
  rate_limited: 429,
  too_many_streams: 429,
  budget_busy: 429,
  // 5xx: the upstream or we are at fault, never the client
  internal_error: 500,
  mcp_server_unreachable: 502,
  mcp_tool_error: 502,
  model_error: 502,
  payment_provider_error: 502,
  service_unavailable: 503,
  billing_not_configured: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export class ApiError extends Error {
  override name = 'ApiError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  /** Detail for our logs only (what a host name resolved to): never part of the response. */
  readonly internal: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    details?: Record<string, unknown>,
    internal?: Record<string, unknown>,
  ) {
    super(message);
    this.code = code;
    this.status = errorStatus[code];
    this.details = details;
    this.internal = internal;
  }
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; status: number; requestId?: string; [detail: string]: unknown };
}

export function errorBody(error: ApiError, requestId: string | undefined): ErrorBody {
  return {
    error: { ...error.details, code: error.code, message: error.message, status: error.status, requestId },
  };
}
