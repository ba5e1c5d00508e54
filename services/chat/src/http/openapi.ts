import { z } from 'zod';
import type { AuthMode, ResponseSpec, RouteDefinition } from './route.ts';
import { errorResponse } from './schemas.ts';

export type JsonSchema = Record<string, unknown>;

export function toSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
  }) as JsonSchema;
  return rest;
}

function parameters(schema: z.ZodType | undefined, location: 'path' | 'query' | 'header'): JsonSchema[] {
  if (!schema) return [];
  const json = toSchema(schema, 'input');
  const properties = (json.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...propertySchema } = property;
    return {
      name,
      in: location,
      required: location === 'path' || required.has(name),
      ...(description !== undefined && { description }),
      schema: propertySchema,
    };
  });
}

/** Schemas every operation shares, published once under `components.schemas` and referred to. */
const sharedSchemas = new Map<z.ZodType, string>([[errorResponse, 'Error']]);

function responseSchema(schema: z.ZodType): JsonSchema {
  const name = sharedSchemas.get(schema);
  return name ? { $ref: `#/components/schemas/${name}` } : toSchema(schema, 'output');
}

function responseContent(spec: ResponseSpec): JsonSchema {
  const content: JsonSchema = {
    ...(spec.schema && { 'application/json': { schema: responseSchema(spec.schema) } }),
    ...Object.fromEntries((spec.otherMediaTypes ?? []).map((mediaType) => [mediaType, {}])),
  };
  return Object.keys(content).length > 0 ? { content } : {};
}

/** How each kind of route authenticates, as `security` requirements. */
const security: Record<AuthMode, JsonSchema[]> = {
  none: [],
  operator: [{ operatorToken: [] }],
  principal: [{ bearerAuth: [] }, { apiKeyHeader: [] }],
  publishableKey: [{ publishableKey: [] }],
};

function requestBody(route: RouteDefinition): JsonSchema {
  const [mediaType, schema] = route.rawBody
    ? [route.rawBody.mediaType, route.rawBody.schema]
    : ['application/json', route.body];
  if (!schema) return {};
  return { requestBody: { required: true, content: { [mediaType]: { schema: toSchema(schema, 'input') } } } };
}

/**
 * The OpenAPI 3.1 document, generated from the same zod schemas that validate requests, so the
 * document and the service cannot drift apart.
 */
export function buildOpenApiDocument(routes: readonly RouteDefinition[]): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    const operation: JsonSchema = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description !== undefined && { description: route.description }),
      tags: [route.tag],
      security: security[route.auth],
      ...(route.permission && { 'x-required-permission': route.permission }),
      parameters: [
        ...parameters(route.params, 'path'),
        ...parameters(route.query, 'query'),
        ...parameters(route.headers, 'header'),
      ],
      ...requestBody(route),
      responses: Object.fromEntries(
        Object.entries(route.responses).map(([status, spec]) => [
          status,
          { description: spec.description, ...responseContent(spec) },
        ]),
      ),
    };
    paths[route.path] ??= {};
    paths[route.path]![route.method] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'MCP Stack Agents API',
      version: '1.0.0',
      description:
        'Management API (organizations, service-account keys, agents, embed keys, MCP servers, conversations, usage) and public chat API of the MCP Stack Agents chat and metering service. Errors are `{ "error": { "code", "message", "status", "requestId" } }`; lists are `{ "data", "nextCursor" }` with `?limit=` and `?cursor=`.',
    },
    servers: [{ url: '/' }],
    components: {
      schemas: Object.fromEntries(
        [...sharedSchemas].map(([schema, name]) => [name, toSchema(schema, 'output')]),
      ),
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'A service-account key, mcpstack_sk_…' },
        apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        operatorToken: { type: 'http', scheme: 'bearer', description: 'MCPSTACK_ADMIN_TOKEN' },
        publishableKey: {
          type: 'http',
          scheme: 'bearer',
          description: "An agent's embed key, mcpstack_pk_…, with an Origin header the key allows",
        },
      },
    },
    paths,
  };
}
