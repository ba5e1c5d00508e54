import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import { newId } from '../../ids.ts';

const requestIdPattern = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * Request id, one structured log line per request, and the HTTP metrics. Only the route pattern
 * is logged and used as a label, never the raw path (ids) or anything from headers or bodies.
 */
export function observe(logger: Logger, registry: Registry): RequestHandler {
  const requests = new Counter({
    name: 'mcpstack_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const durations = new Histogram({
    name: 'mcpstack_http_request_duration_seconds',
    help: 'HTTP request duration by method and route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return (request, response, next) => {
    const started = process.hrtime.bigint();
    // Where a chat turn's Server-Timing starts.
    response.locals.arrivedAt = performance.now();
    const incoming = request.get('x-request-id');
    const requestId = incoming && requestIdPattern.test(incoming) ? incoming : newId('request');
    response.locals.requestId = requestId;
    response.setHeader('X-Request-Id', requestId);
    response.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = request.route?.path ? `${request.baseUrl}${String(request.route.path)}` : 'unmatched';
      requests.inc({ method: request.method, route, status: String(response.statusCode) });
      durations.observe({ method: request.method, route }, seconds);
      const principal = response.locals.principal as { kind: string; keyId?: string } | undefined;
      logger.info(
        {
          requestId,
          method: request.method,
          route,
          status: response.statusCode,
          durationMs: Math.round(seconds * 1e4) / 10,
          principal: principal?.kind,
          keyId: principal?.keyId,
          organizationId: response.locals.organizationId,
        },
        'request',
      );
    });
    next();
  };
}

/** Headers every API response carries; the browser-facing chat routes add CORS of their own. */
export const securityHeaders: RequestHandler = (_request, response, next) => {
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.setHeader('X-Frame-Options', 'DENY');
  response.setHeader('Referrer-Policy', 'no-referrer');
  response.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
  response.setHeader('Cache-Control', 'no-store');
  next();
};
