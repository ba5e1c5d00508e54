import { Counter, type Registry } from 'prom-client';

export interface MeteringMetrics {
  /** Calls whose reported usage cost more than their hold (booked at the hold). */
  overageCalls: Counter;
  overageMicros: Counter;
  /** Settles Redis could not take in time, written to the local journal. */
  journaled: Counter;
  /** Holds nobody settled, charged at their bound when they expired. */
  expiredHolds: Counter;
}

const byRegistry = new WeakMap<Registry, MeteringMetrics>();

/** The metering counters of a service (one set per metrics registry: tests build many services). */
export function meteringMetrics(registry: Registry): MeteringMetrics {
  let metrics = byRegistry.get(registry);
  if (!metrics) {
    const counter = (name: string, help: string) => new Counter({ name, help, registers: [registry] });
    metrics = {
      overageCalls: counter(
        'mcpstack_llm_call_overage_total',
        'LLM calls whose reported usage cost more than their hold (booked at the hold, the rest flagged on the record)',
      ),
      overageMicros: counter(
        'mcpstack_llm_call_overage_micros_total',
        'Micro-USD of reported usage above the holds, not booked',
      ),
      journaled: counter(
        'mcpstack_settle_journaled_total',
        'LLM-call settles Redis could not take in time, kept in the local journal until it does',
      ),
      expiredHolds: counter(
        'mcpstack_holds_charged_at_expiry_total',
        'Budget holds nobody settled (their instance died), charged at their bound when they expired',
      ),
    };
    byRegistry.set(registry, metrics);
  }
  return metrics;
}
