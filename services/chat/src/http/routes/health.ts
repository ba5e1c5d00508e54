import type { Router } from 'express';
import type { Deps } from '../../deps.ts';

export interface Lifecycle {
  /** False once shutdown began, so load balancers stop sending traffic before the server closes. */
  accepting: boolean;
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
  router.get('/metrics', async (_request, response) => {
    response.setHeader('Content-Type', deps.metrics.contentType);
    response.send(await deps.metrics.metrics());
  });
}
