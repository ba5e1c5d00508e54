import type { Request, Router } from 'express';
import ipaddr from 'ipaddr.js';
import type { Deps } from '../../deps.ts';
import { hashSecret, safeEqualHex } from '../../domain/crypto.ts';
import { ApiError } from '../../errors.ts';

export interface Lifecycle {
  /** False once shutdown began, so load balancers stop sending traffic before the server closes. */
  accepting: boolean;
}

function isLoopback(address: string | undefined): boolean {
  if (!address || !ipaddr.isValid(address)) return false;
  return ipaddr.process(address).range() === 'loopback';
}

/**
 * Who may read /metrics (route names, traffic, process internals): with MCPSTACK_METRICS_TOKEN
 * set, whoever sends it as a bearer token; unset, only a client on this machine. A request a proxy
 * forwarded (X-Forwarded-For or Forwarded) is not local, even when the proxy itself runs here.
 */
export function checkMetricsAccess(deps: Pick<Deps, 'env'>, request: Request): void {
  const token = deps.env.MCPSTACK_METRICS_TOKEN;
  if (token !== undefined) {
    const presented = /^Bearer\s+(\S+)\s*$/i.exec(request.get('authorization') ?? '')?.[1];
    if (presented === undefined || !safeEqualHex(hashSecret(presented), hashSecret(token))) {
      throw new ApiError(
        'unauthenticated',
        'Send the metrics token as "Authorization: Bearer <MCPSTACK_METRICS_TOKEN>"',
      );
    }
    return;
  }
  const forwarded = request.get('x-forwarded-for') !== undefined || request.get('forwarded') !== undefined;
  if (forwarded || !isLoopback(request.socket.remoteAddress)) {
    throw new ApiError(
      'insufficient_permissions',
      'Metrics are served only to clients on this machine; set MCPSTACK_METRICS_TOKEN to scrape them from elsewhere',
    );
  }
}

/** Liveness, readiness (Redis answers a PING in time) and Prometheus metrics. */
export function mountHealth(router: Router, deps: Deps, lifecycle: Lifecycle): void {
  router.get('/healthz', (_request, response) => {
    response.json({ status: 'ok' });
  });
  router.get('/readyz', async (_request, response) => {
    if (!lifecycle.accepting) {
      response.status(503).json({ status: 'shutting_down' });
      return;
    }
    try {
      await Promise.race([
        deps.redis.ping(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 1000).unref()),
      ]);
      response.json({ status: 'ready', redis: 'ok' });
    } catch {
      response.status(503).json({ status: 'unavailable', redis: 'unreachable' });
    }
  });
  router.get('/metrics', async (request, response) => {
    checkMetricsAccess(deps, request);
    response.setHeader('Content-Type', deps.metrics.contentType);
    response.send(await deps.metrics.metrics());
  });
}
