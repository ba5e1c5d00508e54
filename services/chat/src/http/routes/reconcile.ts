import { reconcileCredits } from '../../domain/credits/reconcile.ts';
import { adminRoutes } from '../route.ts';
import { orgParams } from '../schemas.ts';
import { reconcileResponse } from './ai-credits.ts';

const creditRoute = adminRoutes('AI credits');

/**
 * The reconcile report as a read: finance (billing:read) sees whether the balance equals the sum
 * of the ledger without the billing:adjust grant the POST form asks for.
 */
export const reconcileRoutes = [
  creditRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/ai-credits/reconcile',
    operationId: 'getAiCreditReconcileReport',
    summary: 'Read the reconcile report: balance = sum of the ledger, one purchase per paid Stripe session.',
    permission: 'billing:read',
    params: orgParams,
    responses: { 200: { description: 'The report', schema: reconcileResponse } },
    async handle({ deps, params }) {
      return { body: await reconcileCredits(deps, params.orgId) };
    },
  }),
];
