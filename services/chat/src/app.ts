import express, { type Express } from 'express';
import type { Deps } from './deps.ts';
import { chatCors } from './http/chat/embed-auth.ts';
import { consoleAssetRouter } from './http/console-assets.ts';
import { errorHandler } from './http/middleware/errors.ts';
import { observe, securityHeaders } from './http/middleware/observe.ts';
import { buildOpenApiDocument, type JsonSchema } from './http/openapi.ts';
import type { RouteDefinition } from './http/route.ts';
import { createRouter, refuseUnmatched } from './http/router.ts';
import { agentRoutes } from './http/routes/agents.ts';
import { aiCreditRoutes } from './http/routes/ai-credits.ts';
import { apiKeyRoutes } from './http/routes/api-keys.ts';
import { budgetRoutes } from './http/routes/budgets.ts';
import { chatApiPath, chatRoutes } from './http/routes/chat.ts';
import { cliRoutes } from './http/routes/cli.ts';
import { consoleSessionRoutes } from './http/routes/console-session.ts';
import { conversationRoutes } from './http/routes/conversations.ts';
import { embedKeyRoutes } from './http/routes/embed-keys.ts';
import { type Lifecycle, mountHealth } from './http/routes/health.ts';
import { identityRoutes } from './http/routes/identity.ts';
import { llmCallRoutes } from './http/routes/llm-calls.ts';
import { mcpServerRoutes } from './http/routes/mcp-servers.ts';
import { organizationRoutes } from './http/routes/organizations.ts';
import { reconcileRoutes } from './http/routes/reconcile.ts';
import { stripeWebhookRoute } from './http/routes/stripe-webhook.ts';
import { verifiedDomainRoutes } from './http/routes/verified-domains.ts';
import { webhookRoutes } from './http/routes/webhooks.ts';
import { widgetAssetRouter } from './http/widget-asset.ts';

/** Every route but the chat API's, in the order of the OpenAPI document. */
const serviceRoutes: readonly RouteDefinition[] = [
  stripeWebhookRoute,
  ...organizationRoutes,
  ...cliRoutes,
  ...apiKeyRoutes,
  ...agentRoutes,
  ...embedKeyRoutes,
  ...identityRoutes,
  ...conversationRoutes,
  ...llmCallRoutes,
  ...budgetRoutes,
  ...aiCreditRoutes,
  ...reconcileRoutes,
  ...verifiedDomainRoutes,
  ...mcpServerRoutes,
  ...webhookRoutes,
  ...consoleSessionRoutes,
];

/** Every route of the API, in the order of the OpenAPI document. */
export const apiRoutes: readonly RouteDefinition[] = [...chatRoutes, ...serviceRoutes];

/**
 * The OpenAPI document the service serves at /api/v1/openapi.json; `@mcpstack/cli` generates its
 * types from this same function at build time.
 */
export function serviceOpenApiDocument(): JsonSchema {
  return buildOpenApiDocument(apiRoutes);
}

export interface App {
  app: Express;
  lifecycle: Lifecycle;
}

/** The Express app, without listening: main.ts listens, tests use it on port 0. */
export function createApp(deps: Deps): App {
  const lifecycle: Lifecycle = { accepting: true };
  const app = express();
  app.disable('x-powered-by');
  // Behind N proxies, the client IP is the one the Nth proxy saw (X-Forwarded-For); never more.
  app.set('trust proxy', deps.env.MCPSTACK_TRUSTED_PROXIES || false);
  app.set('query parser', 'simple');
  app.use(observe(deps.logger, deps.metrics));
  app.use(securityHeaders);
  // While draining, answer and close the connection so keep-alive clients do not hold shutdown open.
  app.use((_request, response, next) => {
    if (!lifecycle.accepting) response.setHeader('Connection', 'close');
    next();
  });
  // First: a chat turn is the hot path, and its paths are its own (the chat body parser is its route's).
  // The chat API is for browsers: CORS preflights of every path under it, then its routes.
  app.use(chatApiPath, chatCors(deps));
  app.use(createRouter(deps, chatRoutes));

  const health = express.Router();
  mountHealth(health, deps, lifecycle);
  app.use(health);

  const openApiDocument = serviceOpenApiDocument();
  app.get('/api/v1/openapi.json', (_request, response) => {
    response.setHeader('Cache-Control', 'public, max-age=300');
    response.json(openApiDocument);
  });
  app.use(widgetAssetRouter());
  app.use(consoleAssetRouter());
  const service = createRouter(deps, serviceRoutes);
  // In the router, after its routes: else Express answers an OPTIONS it matched itself (200, Allow).
  service.use(refuseUnmatched(apiRoutes));
  app.use(service);
  app.use(errorHandler(deps.logger));
  return { app, lifecycle };
}
