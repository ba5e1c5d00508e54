import type { ErrorRequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { ApiError, errorBody } from '../../errors.ts';
import { isRedisUnavailableError } from '../../storage/redis.ts';

interface BodyParserError {
  type: string;
  status?: number;
}

function isBodyParserError(error: unknown): error is BodyParserError {
  return typeof error === 'object' && error !== null && typeof (error as BodyParserError).type === 'string';
}

/**
 * A body that does not decompress as its `Content-Encoding` says: body-parser passes zlib's (or
 * brotli's, zstd's) own error on with status 400 and no `type`; zlib errors carry a numeric `errno`
 * and a string `code` (`Z_DATA_ERROR`, `ERR__ERROR_FORMAT_PADDING_1`, `ZSTD_error_…`).
 */
function isDecompressionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const fields = error as Error & { status?: unknown; errno?: unknown; code?: unknown };
  return fields.status === 400 && typeof fields.errno === 'number' && typeof fields.code === 'string';
}

/** Our ApiError as is; known library errors translated; anything else is a bug: logged, answered 500. */
export function toApiError(error: unknown): ApiError | null {
  if (error instanceof ApiError) return error;
  if (isBodyParserError(error)) {
    switch (error.type) {
      case 'entity.parse.failed':
        return new ApiError('invalid_json', 'The body is not valid JSON');
      case 'entity.too.large':
        return new ApiError('payload_too_large', 'The body is larger than this endpoint accepts');
      case 'encoding.unsupported':
        return new ApiError(
          'unsupported_content_encoding',
          'Send the body uncompressed, or with Content-Encoding gzip, deflate or br',
        );
      case 'charset.unsupported':
        return new ApiError('unsupported_media_type', 'Send the body as UTF-8 JSON');
      case 'request.aborted':
      case 'request.size.invalid':
        return new ApiError('invalid_json', 'The body ended before its declared length');
    }
  }
  if (isDecompressionError(error)) {
    return new ApiError('invalid_body', 'The body does not decompress as its Content-Encoding says');
  }
  // Express's router fails on a path parameter that is not valid percent-encoding (`%E0%A4%A`).
  if (error instanceof URIError) {
    return new ApiError('invalid_path_parameter', 'A path parameter is not valid percent-encoding (UTF-8)');
  }
  if (isRedisUnavailableError(error)) {
    return new ApiError('service_unavailable', 'The service cannot reach its store right now; retry shortly');
  }
  return null;
}

export function sendError(response: Response, error: ApiError): void {
  if (error.code === 'method_not_allowed' && Array.isArray(error.details?.allow)) {
    response.setHeader('Allow', (error.details.allow as string[]).join(', '));
  }
  if (error.status === 503) response.setHeader('Retry-After', '1');
  if (error.status === 429) response.setHeader('Retry-After', String(error.details?.retryAfterSeconds ?? 1));
  response.status(error.status).json(errorBody(error, response.locals.requestId as string | undefined));
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, _request, response, _next) => {
    const known = toApiError(error);
    const apiError =
      known ?? new ApiError('internal_error', 'Something went wrong on our side; the request id says where');
    if (!known) logger.error({ err: error, requestId: response.locals.requestId }, 'unhandled error');
    else if (apiError.internal)
      logger.info(
        { code: apiError.code, requestId: response.locals.requestId, ...apiError.internal },
        'request refused',
      );
    else if (apiError.status >= 500)
      logger.warn(
        { code: apiError.code, requestId: response.locals.requestId, reason: String(error) },
        'request failed',
      );
    if (response.headersSent) {
      response.end();
      return;
    }
    sendError(response, apiError);
  };
}
