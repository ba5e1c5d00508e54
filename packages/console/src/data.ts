import { api, org, query } from './api.ts';

/** Shapes of the API answers the console reads (the OpenAPI document's, by hand: no zod in the browser). */
export interface AgentUsageTotals {
  agentId: string;
  agentName: string;
  spendUsd: number;
  llmCalls: number;
  conversations: number;
  users: number;
  periodStart: string;
  periodEnd: string;
}
export interface AgentUsage extends Omit<AgentUsageTotals, 'agentName'> {
  byDay: { date: string; spendUsd: number; llmCalls: number }[];
}
export interface UserUsage {
  externalUserId: string;
  spendUsd: number;
  monthlyBudgetUsd: number | null;
  remainingBudgetUsd: number | null;
  budgetSource: 'override' | 'default' | 'none';
}
export interface Budget {
  enabled: boolean;
  monthlyBudgetUsd: number | null;
  defaultUserBudgetUsd: number | null;
  anonymousMonthlyBudgetUsd: number | null;
  resetDayOfMonthUtc: number;
  periodStart: string;
  resetsAt: string;
  currentMonthSpendUsd: number;
  remainingBudgetUsd: number | null;
  trackedUserCount: number;
  assignedUserCount: number;
  updatedAt: string | null;
}
export interface CreditSummary {
  balanceUsd: number;
  reservedUsd: number;
  availableUsd: number;
  purchasedUsd: number;
  spentUsd: number;
  spentThisMonthUsd: number;
  lowBalance: boolean;
  lowBalanceThresholdUsd: number;
}
export interface LedgerEntry {
  id: string;
  type: 'purchase' | 'grant' | 'usage' | 'refund' | 'adjustment';
  amountUsd: number;
  balanceAfterUsd: number;
  reference: Record<string, string | null>;
  actor: string;
  reason: string | null;
  createdAt: string;
}
export interface Agent {
  id: string;
  name: string;
  description: string | null;
  model: string;
  instructions: string;
  welcomeMessage: string | null;
  maxOutputTokens: number;
  updatedAt?: string;
}
export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

export const embedUsage = () =>
  api<{ totalSpendUsd: number; data: AgentUsageTotals[] }>('GET', org('embed-usage'));
export const agentUsage = (agentId: string) => api<AgentUsage>('GET', org(`agents/${agentId}/usage`));
export const userUsage = (agentId: string, limit = 10) =>
  api<Page<UserUsage>>('GET', org(`agents/${agentId}/usage/users${query({ limit })}`));
export const agentBudget = (agentId: string) => api<Budget>('GET', org(`agents/${agentId}/budget`));
export const creditSummary = () => api<CreditSummary>('GET', org('ai-credits/summary'));
export const listAgents = () => api<Page<Agent>>('GET', org(`agents${query({ limit: 500 })}`));

/** Agents by name, for pickers: the agents list where readable, else the usage report's names. */
export async function agentChoices(canReadAgents: boolean): Promise<{ id: string; name: string }[]> {
  if (canReadAgents) return (await listAgents()).data.map(({ id, name }) => ({ id, name }));
  return (await embedUsage()).data.map((entry) => ({ id: entry.agentId, name: entry.agentName }));
}
