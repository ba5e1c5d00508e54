import { reconcileCredits } from '../../domain/credits/reconcile.ts';
import { defineRoute } from '../route.ts';
import { orgParams, standardErrors } from '../schemas.ts';
import { reconcileResponse } from './ai-credits.ts';

/**
 * The reconcile report as a read: finance (billing:read) sees whether the balance equals the sum
 * of the ledger without the billing:adjust grant the POST form asks for.
 */
export const reconcileRoutes = [
  defineRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/ai-credits/reconcile',
    operationId: 'getAiCreditReconcileReport',
    summary: 'Read the reconcile report: balance = sum of the ledger, one purchase per paid Stripe session.',
    tag: 'AI credits',
    auth: 'principal',
    permission: 'billing:read',
    params: orgParams,
    responses: { 200: { description: 'The report', schema: reconcileResponse }, ...standardErrors },
    async handle({ deps, params }) {
      return { body: await reconcileCredits(deps, params.orgId) };
    },
  }),
];
