import {
  creditsLowHeader,
  publishableKeyHeader,
  requestIdHeader,
  retryAfterHeader,
  userTokenHeader,
  userTokenProblemHeader,
} from '@mcpstack/chat-protocol';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Deps } from '../../deps.ts';
import { publishableKeyPrefix, secretKeyPrefix } from '../../domain/auth/api-keys.ts';
import { embedKeyRefused, originRefused } from '../../domain/embed-key-admission.ts';
import { EmbedKeyDirectory } from '../../domain/embed-key-directory.ts';
import {
  type EmbedKeyLookup,
  isOriginAllowedByAnyKey,
  normalizeOrigin,
  publicKeyPattern,
} from '../../domain/embed-keys.ts';
import { type RefusalDetails, remedies } from '../../domain/refusals.ts';
import { ApiError } from '../../errors.ts';

/**
 * What an authenticated chat request carries: the embed key and the origin it came from, one of the
 * key's allowed origins; admission confirms the key is live and the origin verified.
 */
export interface EmbedContext {
  key: EmbedKeyLookup;
  origin: string;
}

export const embedContext = (response: Response): EmbedContext => response.locals.embed as EmbedContext;

const originRefusal: RefusalDetails = { limitSource: 'origin', retryable: false, remedy: remedies.origin };

const allowedHeaders = [publishableKeyHeader, 'content-type', requestIdHeader, userTokenHeader].join(', ');
const exposedHeaders = [requestIdHeader, retryAfterHeader, userTokenProblemHeader, creditsLowHeader].join(
  ', ',
);

function allowOrigin(response: Response, origin: string): void {
  response.setHeader('Access-Control-Allow-Origin', origin);
  response.setHeader('Access-Control-Expose-Headers', exposedHeaders);
}

function bearer(request: Request): string | undefined {
  const header = request.get(publishableKeyHeader);
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match?.[1];
}

/**
 * CORS for the public chat API. A preflight carries no key, so it is answered (with the exact
 * origin, never `*`) when some live embed key allows that origin, and refused otherwise; the real
 * request is then checked against its own key. No cookies are used, so credentials stay off.
 */
export function chatCors(deps: Deps): RequestHandler {
  return async (request, response, next) => {
    response.vary('Origin');
    if (request.method !== 'OPTIONS') return next();
    try {
      const origin = normalizeOrigin(request.get('origin') ?? '');
      if (!origin || !(await isOriginAllowedByAnyKey(deps, origin))) {
        throw new ApiError('origin_not_allowed', 'This origin may not call the chat API', originRefusal);
      }
      response.setHeader('Access-Control-Allow-Origin', origin);
      response.setHeader('Access-Control-Allow-Methods', 'GET, POST, DELETE, OPTIONS');
      response.setHeader('Access-Control-Allow-Headers', allowedHeaders);
      response.setHeader('Access-Control-Max-Age', '600');
      response.status(204).end();
    } catch (error) {
      next(error);
    }
  };
}

/**
 * The publishable key (`Authorization: Bearer mcpstack_pk_…`) and the request's `Origin`, checked
 * on every request: the key must exist and the origin be one of its allowed origins. Whether the key
 * is still live (a revoked key fails on its next request) and the origin on a verified domain is
 * checked by admission, which every chat route goes through, in the same round trip as the agent
 * and the limits (`admitChatRequest`, `chat-admit.lua`). Errors still carry CORS headers when some
 * key allows the origin, so the widget can read and show them.
 */
export function embedAuth(deps: Deps): RequestHandler {
  const directory = new EmbedKeyDirectory(deps);
  return async (request: Request, response: Response, next: NextFunction) => {
    const started = performance.now();
    const rawOrigin = request.get('origin');
    const origin = rawOrigin ? normalizeOrigin(rawOrigin) : null;
    try {
      const credential = bearer(request);
      if (!credential) {
        throw new ApiError(
          'invalid_public_key',
          'Send the embed key as "Authorization: Bearer mcpstack_pk_…" (from the agent\'s embed keys)',
        );
      }
      if (credential.startsWith(secretKeyPrefix)) {
        throw new ApiError(
          'secret_key_not_allowed',
          "This is a secret service-account key (mcpstack_sk_…). Never put it in frontend code: revoke it now and use the agent's publishable embed key (mcpstack_pk_…) instead.",
        );
      }
      const key =
        credential.startsWith(publishableKeyPrefix) && publicKeyPattern.test(credential)
          ? await directory.find(credential)
          : null;
      if (!key) throw embedKeyRefused();
      if (!rawOrigin) {
        throw new ApiError(
          'origin_required',
          'The chat API is for browsers: the request must carry an Origin header allowed by the embed key',
          originRefusal,
        );
      }
      if (!origin || !key.allowedOrigins.includes(origin)) {
        throw originRefused(rawOrigin, `The origin ${rawOrigin} is not allowed by this embed key`);
      }
      allowOrigin(response, origin);
      response.locals.embed = { key, origin } satisfies EmbedContext;
      response.locals.organizationId = key.organizationId;
      // The first stage of a chat turn's Server-Timing.
      response.locals.routedMs = started - Number(response.locals.arrivedAt ?? started);
      response.locals.authMs = performance.now() - started;
      response.locals.authedAt = performance.now();
      next();
    } catch (error) {
      if (origin) {
        try {
          if (await isOriginAllowedByAnyKey(deps, origin)) allowOrigin(response, origin);
        } catch {
          // the store is down: the error below says so; the browser just cannot read it
        }
      }
      next(error);
    }
  };
}
