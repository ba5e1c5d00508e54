import type { RequestHandler } from 'express';
import type { z } from 'zod';
import type { Deps } from '../deps.ts';
import { getAgent } from '../domain/agents.ts';
import type { AuthenticatedPrincipal, Permission } from '../domain/auth/permissions.ts';
import type { OrganizationRecord } from '../storage/records.ts';
import { errorResponse, standardErrors } from './schemas.ts';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/**
 * - `none`: public (health, OpenAPI).
 * - `operator`: only MCPSTACK_ADMIN_TOKEN.
 * - `principal`: the operator or a service-account key; with an `{orgId}` path parameter the
 *   principal must belong to that organization (else 404) and hold `permission` (else 403).
 * - `publishableKey`: the chat API for browsers: an agent's embed key from an Origin it allows,
 *   checked by the route's own handlers (`http/chat/embed-auth.ts`).
 */
export type AuthMode = 'none' | 'operator' | 'principal' | 'publishableKey';

type AnyObject = z.ZodType<Record<string, unknown>>;

export interface RouteContext<Params, Query, Body> {
  deps: Deps;
  params: Params;
  query: Query;
  body: Body;
  /** On `none` routes there is no principal: handlers of public routes must not read it. */
  principal: AuthenticatedPrincipal;
  /** Set when the path has `{orgId}`: the organization, already checked to exist and be visible. */
  organization: OrganizationRecord;
  requestId: string;
  /** The request's headers (lower-case names): content negotiation (`Accept`), signatures. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The origin the client addressed, `protocol://host[:port]` (for same-origin checks and cookies). */
  serviceOrigin: string;
}

export interface ResponseSpec<Schema extends z.ZodType = z.ZodType> {
  description: string;
  /** The JSON body; a status without one answers no body. */
  schema?: Schema;
  /** Media types the route may answer instead of JSON when asked (`Accept`): a CSV export. */
  otherMediaTypes?: readonly string[];
}

/** The route's documented answers, by HTTP status. */
export type Responses = Record<number, ResponseSpec>;

type SuccessStatus = 200 | 201 | 202 | 204;

interface ResultExtras {
  headers?: Record<string, string>;
  /** `Set-Cookie` values (the console session's). */
  cookies?: string[];
}

/** A 200 may leave its status out. */
type StatusField<Status> = Status extends 200 ? { status?: 200 } : { status: Status };

/** A body is only serialized: read-only arrays do as well as any. */
type Sendable<T> = T extends readonly (infer Item)[]
  ? readonly Sendable<Item>[]
  : T extends object
    ? { [Key in keyof T]: Sendable<T[Key]> }
    : T;

/**
 * The body documented for a status: its schema's input; or, for another media type, a body sent
 * as is (its Content-Type goes in `headers`). A 204 has none. Another status documented without a
 * schema is typed `unknown` rather than `never`: with `never`, TypeScript drops the contextual type
 * of a handler that throws before it returns and widens its `status: 201` to `number`. The test
 * harness refuses a body there all the same.
 */
type BodyField<Status, Spec> =
  | (Spec extends { schema: infer Schema extends z.ZodType }
      ? { body: Sendable<z.input<Schema>>; text?: never }
      : Status extends 204
        ? { body?: never; text?: never }
        : { body?: unknown; text?: never })
  | (Spec extends { otherMediaTypes: readonly string[] } ? { text: string; body?: never } : never);

/** What a handler answers: one of its route's documented success statuses, with the body documented for it. */
export type RouteResult<R extends Responses = Responses> = number extends keyof R
  ? ResultExtras & { status?: number; body?: unknown; text?: string }
  : {
      [Status in Extract<keyof R, SuccessStatus>]: StatusField<Status> &
        BodyField<Status, R[Status]> &
        ResultExtras;
    }[Extract<keyof R, SuccessStatus>];

/** What the OpenAPI document says of a route, whatever runs it. */
interface RouteDocs<Params extends AnyObject, Query extends AnyObject, R extends Responses> {
  method: HttpMethod;
  /** OpenAPI-style path, e.g. `/api/v1/organizations/{orgId}/agents/{agentId}`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  auth: AuthMode;
  permission?: Permission;
  params?: Params;
  query?: Query;
  /** Request headers the route reads, for the document; the handler checks them itself. */
  headers?: AnyObject;
  responses: R;
}

/**
 * A route whose handler returns its answer: the router authenticates, scopes to the organization,
 * authorizes and validates, then sends what `handle` returns.
 */
export interface HandledRoute<
  Params extends AnyObject = AnyObject,
  Query extends AnyObject = AnyObject,
  Body extends z.ZodType = z.ZodType,
  R extends Responses = Responses,
> extends RouteDocs<Params, Query, R> {
  body?: Body;
  rawBody?: undefined;
  handle(context: RouteContext<z.output<Params>, z.output<Query>, z.output<Body>>): Promise<RouteResult<R>>;
}

/**
 * A handled route that reads the exact bytes of its body, unparsed, because a signature covers
 * them (Stripe's webhook). `body` is undefined when the request's media type is not `mediaType`.
 */
export interface RawBodyRoute<R extends Responses = Responses> extends RouteDocs<AnyObject, AnyObject, R> {
  rawBody: {
    mediaType: string;
    /** The body's shape, for the document only: the handler parses it once it checked the bytes. */
    schema: z.ZodType;
  };
  body?: undefined;
  handle(
    context: RouteContext<Record<string, unknown>, Record<string, unknown>, Buffer | undefined>,
  ): Promise<RouteResult<R>>;
}

/**
 * A route that writes its own response: a stream, or the chat API with its own key, Origin and
 * limits, checked in an order of its own. The router mounts its Express handlers as they are (no
 * work added to a chat request); the table documents it, `body` included, which the handlers
 * validate themselves.
 */
export interface MountedRoute extends RouteDocs<AnyObject, AnyObject, Responses> {
  body?: z.ZodType;
  rawBody?: undefined;
  /**
   * Builds the Express handlers of this route and of the routes that share its `mount`, by
   * operationId: the router calls each `mount` once, so the handlers may share metrics and parsers.
   */
  mount(deps: Deps): Readonly<Record<string, RequestHandler[]>>;
}

/** A route of the table: what the router mounts and the OpenAPI document describes. */
export type RouteDefinition = HandledRoute | RawBodyRoute | MountedRoute;

/**
 * Identity function that lets TypeScript infer a route's types from its schemas: the handler's
 * inputs from `params`, `query` and `body`, and what it may answer from `responses`.
 */
export function defineRoute<
  Params extends AnyObject,
  Query extends AnyObject,
  Body extends z.ZodType,
  R extends Responses,
>(definition: HandledRoute<Params, Query, Body, R>): RouteDefinition {
  return withRouterResponses(definition) as unknown as RouteDefinition;
}

/**
 * The admin routes of one OpenAPI tag: each authenticated as a principal (the operator or a
 * service-account key, scoped to the path's organization and checked for its `permission`), and
 * documenting the standard error answers under its own (a route's own 400 replaces the standard one).
 *
 * @example
 * const agentRoute = adminRoutes('Agents');
 * agentRoute({ method: 'get', path: '/api/v1/organizations/{orgId}/agents', permission: 'agents:read', … });
 */
export function adminRoutes(tag: string) {
  return <Params extends AnyObject, Query extends AnyObject, Body extends z.ZodType, R extends Responses>(
    route: Omit<HandledRoute<Params, Query, Body, R>, 'tag' | 'auth'>,
  ): RouteDefinition =>
    defineRoute<Params, Query, Body, R>({
      ...route,
      tag,
      auth: 'principal',
      responses: { ...standardErrors, ...route.responses },
    });
}

/**
 * `adminRoutes` of something an agent holds (its budget, conversations, calls): the path names
 * `{agentId}`, and a route answers agent_not_found (404) before its handler runs when the
 * organization has no such agent.
 */
export function agentRoutes(tag: string) {
  const route = adminRoutes(tag);
  return <
    Params extends AnyObject & z.ZodType<{ orgId: string; agentId: string }>,
    Query extends AnyObject,
    Body extends z.ZodType,
    R extends Responses,
  >(
    definition: Omit<HandledRoute<Params, Query, Body, R>, 'tag' | 'auth'>,
  ): RouteDefinition =>
    route<Params, Query, Body, R>({
      ...definition,
      async handle(context) {
        await getAgent(context.deps, context.params.orgId, context.params.agentId);
        return definition.handle(context);
      },
    });
}

/** A route that reads its body's exact bytes (see `RawBodyRoute`). */
export function defineRawBodyRoute<R extends Responses>(definition: RawBodyRoute<R>): RouteDefinition {
  return withRouterResponses(definition) as unknown as RouteDefinition;
}

/** A route that writes its own response (see `MountedRoute`): it documents every status itself. */
export function defineMountedRoute(definition: MountedRoute): RouteDefinition {
  return definition;
}

function withRouterResponses<
  Route extends HandledRoute<AnyObject, AnyObject, z.ZodType, Responses> | RawBodyRoute,
>(route: Route): Route {
  return { ...route, responses: { ...routerResponses(route), ...route.responses } };
}

/**
 * What the router itself may answer on a route, whatever its handler does, so that the document
 * lists every status a client can get: the body's size and encoding, the service-account keys'
 * rate limit, and the store out of reach.
 */
function routerResponses(route: Pick<HandledRoute | RawBodyRoute, 'auth' | 'body' | 'rawBody'>): Responses {
  const responses: Responses = {};
  if (route.body || route.rawBody) {
    responses[413] = {
      description: 'payload_too_large: the body is over MCPSTACK_MAX_BODY_BYTES',
      schema: errorResponse,
    };
    responses[415] = {
      description: 'unsupported_media_type (the body is not JSON) or unsupported_content_encoding',
      schema: errorResponse,
    };
  }
  if (route.auth === 'principal') {
    responses[429] = {
      description:
        'rate_limited: the service-account key sent more than MCPSTACK_RATE_LIMIT_API_KEY_PER_MINUTE requests this minute (Retry-After)',
      schema: errorResponse,
    };
  }
  responses[503] = {
    description: 'service_unavailable: the store cannot be reached; retry shortly',
    schema: errorResponse,
  };
  return responses;
}

/** `/a/{b}/c` → `/a/:b/c` */
export function toExpressPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}
