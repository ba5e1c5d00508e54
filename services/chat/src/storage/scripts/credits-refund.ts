import { z } from 'zod';
import { type CheckoutChangeArgs, type CheckoutKeys, checkoutCall } from './credits-purchase.ts';
import { defineScript } from './define-script.ts';

export interface CreditsRefundArgs extends CheckoutChangeArgs {
  /** What Stripe reports refunded of the charge so far (cumulative). */
  refundedMicros: number;
  refundIds: string[];
  /** The refunded charge's PaymentIntent (a session paid by another is refused). */
  paymentIntentId: string;
}

/**
 * credits-refund.lua: debits what was refunded of a credited session and not yet debited.
 * `not_credited`: the purchase is not credited yet; `payment_mismatch`: the charge paid another
 * session. `debitedMicros` is what this call debited.
 */
export const creditsRefund = defineScript({
  file: 'credits-refund.lua',
  keyCount: 3,
  encode: (keys: CheckoutKeys, args: CreditsRefundArgs) =>
    checkoutCall(keys, args, args.refundedMicros, args.refundIds.join(','), args.paymentIntentId),
  reply: z
    .tuple([z.enum(['refunded', 'duplicate', 'not_credited', 'payment_mismatch']), z.number(), z.number()])
    .transform(([outcome, balanceMicros, debitedMicros]) => ({ outcome, balanceMicros, debitedMicros })),
});
