import { api, org, query, type Session } from '../api.ts';
import { type ChartSeries, TimeChart } from '../chart.tsx';
import { Empty, Loaded, Section, useLoad } from '../components.tsx';
import {
  type AgentUsageTotals,
  agentBudget,
  agentUsage,
  type Budget,
  creditSummary,
  embedUsage,
  type LedgerEntry,
  type Page,
  type UserUsage,
  userUsage,
} from '../data.ts';
import { count, usd } from '../format.ts';
import { Table } from '../table.tsx';

interface UsageOverview {
  agents: (AgentUsageTotals & { budget: Budget | null })[];
  days: string[];
  spend: number[];
  calls: number[];
  topUsers: (UserUsage & { agentName: string })[];
}

async function loadUsage(canReadAgents: boolean): Promise<UsageOverview> {
  const { data: agents } = await embedUsage();
  const details = await Promise.all(
    agents.map(async (agent) => {
      const [usage, users, budget] = await Promise.all([
        agentUsage(agent.agentId),
        userUsage(agent.agentId, 10),
        canReadAgents ? agentBudget(agent.agentId) : Promise.resolve(null),
      ]);
      return { agent, usage, users, budget };
    }),
  );
  const byDay = new Map<string, { spend: number; calls: number }>();
  for (const { usage } of details) {
    for (const entry of usage.byDay) {
      const day = byDay.get(entry.date) ?? { spend: 0, calls: 0 };
      day.spend += entry.spendUsd;
      day.calls += entry.llmCalls;
      byDay.set(entry.date, day);
    }
  }
  // Every day of the period so far, with zeros where nothing was spent: gaps would read as missing data.
  const start = Math.min(Date.now(), ...details.map(({ usage }) => Date.parse(usage.periodStart)));
  const days: string[] = [];
  for (let time = start; time <= Date.now(); time += 86_400_000)
    days.push(new Date(time).toISOString().slice(0, 10));
  for (const date of byDay.keys()) if (!days.includes(date)) days.push(date);
  days.sort();
  return {
    agents: details.map(({ agent, budget }) => ({ ...agent, budget })),
    days,
    spend: days.map((date) => Math.round((byDay.get(date)?.spend ?? 0) * 1e6) / 1e6),
    calls: days.map((date) => byDay.get(date)?.calls ?? 0),
    topUsers: details
      .flatMap(({ agent, users }) => users.data.map((user) => ({ ...user, agentName: agent.agentName })))
      .sort((left, right) => right.spendUsd - left.spendUsd)
      .slice(0, 10),
  };
}

const toSeconds = (iso: string) => Date.parse(iso.length === 10 ? `${iso}T00:00:00Z` : iso) / 1000;

function SpendAgainstCap({ spend, cap }: { spend: number; cap: number | null }) {
  if (cap === null) return <span>{usd(spend)} (no cap)</span>;
  const share = cap === 0 ? 1 : Math.min(1, spend / cap);
  const tone = share >= 1 ? 'over' : share >= 0.8 ? 'near' : 'ok';
  return (
    <span class="meter-cell">
      <meter
        min={0}
        max={cap}
        value={Math.min(spend, cap)}
        low={cap * 0.8}
        high={cap * 0.99}
        optimum={0}
        aria-label={`${usd(spend)} of ${usd(cap)}`}
      />
      <span class={`tone-${tone}`}>
        {usd(spend)} of {usd(cap)} ({Math.round((spend / (cap || 1)) * 100)} %)
      </span>
    </span>
  );
}

function UsageSections({ canReadAgents }: { canReadAgents: boolean }) {
  const [load] = useLoad(() => loadUsage(canReadAgents), [canReadAgents]);
  return (
    <Loaded load={load}>
      {(usage) => {
        const times = usage.days.map(toSeconds);
        const spendSeries: ChartSeries[] = [
          { label: 'Spend (USD)', values: usage.spend, color: '#1d4ed8', money: true },
        ];
        const callSeries: ChartSeries[] = [{ label: 'LLM calls', values: usage.calls, color: '#047857' }];
        return (
          <div class="stack">
            <Section title="This month's spend per agent">
              {usage.agents.length === 0 ? (
                <Empty>No agents yet: create one with the API or on the Agents page.</Empty>
              ) : (
                <Table columns={['Agent', 'Spend against cap', 'LLM calls', 'Conversations', 'Users']}>
                  {usage.agents.map((agent) => (
                    <tr key={agent.agentId}>
                      <th scope="row">{agent.agentName}</th>
                      <td>
                        <SpendAgainstCap
                          spend={agent.spendUsd}
                          cap={
                            agent.budget?.enabled
                              ? agent.budget.monthlyBudgetUsd
                              : (agent.budget?.monthlyBudgetUsd ?? null)
                          }
                        />
                      </td>
                      <td>{count(agent.llmCalls)}</td>
                      <td>{count(agent.conversations)}</td>
                      <td>{count(agent.users)}</td>
                    </tr>
                  ))}
                </Table>
              )}
            </Section>
            <div class="grid-2">
              <Section title="Daily spend">
                {usage.spend.every((value) => value === 0) ? (
                  <Empty>No spend this month yet.</Empty>
                ) : (
                  <TimeChart
                    title="Spend per day, all agents"
                    times={times}
                    series={spendSeries}
                    bars
                    summary={`${usd(usage.spend.reduce((a, b) => a + b, 0))} over ${times.length} days`}
                  />
                )}
              </Section>
              <Section title="Daily calls">
                {usage.calls.every((value) => value === 0) ? (
                  <Empty>No LLM calls this month yet.</Empty>
                ) : (
                  <TimeChart
                    title="LLM calls per day, all agents"
                    times={times}
                    series={callSeries}
                    bars
                    summary={`${count(usage.calls.reduce((a, b) => a + b, 0))} calls over ${times.length} days`}
                  />
                )}
              </Section>
            </div>
            <Section title="Top users by spend">
              {usage.topUsers.length === 0 ? (
                <Empty>No identified user has spent anything this month.</Empty>
              ) : (
                <Table columns={['User', 'Agent', 'Spend', 'Cap']}>
                  {usage.topUsers.map((user) => (
                    <tr key={`${user.agentName}:${user.externalUserId}`}>
                      <th scope="row">{user.externalUserId}</th>
                      <td>{user.agentName}</td>
                      <td>{usd(user.spendUsd, true)}</td>
                      <td>{usd(user.monthlyBudgetUsd, true)}</td>
                    </tr>
                  ))}
                </Table>
              )}
            </Section>
          </div>
        );
      }}
    </Loaded>
  );
}

function CreditSections() {
  const [load] = useLoad(
    () =>
      Promise.all([
        creditSummary(),
        api<Page<LedgerEntry>>('GET', org(`ai-credits/ledger${query({ limit: 500 })}`)),
      ]),
    [],
  );
  return (
    <Loaded load={load}>
      {([summary, ledger]) => {
        const entries = [...ledger.data].reverse();
        const series: ChartSeries[] = [
          {
            label: 'Balance (USD)',
            values: entries.map((entry) => entry.balanceAfterUsd),
            color: '#7c3aed',
            money: true,
          },
        ];
        return (
          <div class="grid-2">
            <Section title="Credit balance">
              <p class="big">{usd(summary.balanceUsd)}</p>
              <dl class="facts">
                <dt>Available</dt>
                <dd>{usd(summary.availableUsd)}</dd>
                <dt>Spent this month</dt>
                <dd>{usd(summary.spentThisMonthUsd)}</dd>
                <dt>Bought, all time</dt>
                <dd>{usd(summary.purchasedUsd)}</dd>
              </dl>
              {summary.lowBalance && (
                <p class="tone-over" role="status">
                  Low balance: under {usd(summary.lowBalanceThresholdUsd)}. Chat stops at zero.
                </p>
              )}
            </Section>
            <Section title="Balance trend">
              {entries.length < 2 ? (
                <Empty>Not enough ledger entries for a trend yet.</Empty>
              ) : (
                <TimeChart
                  title={`Balance after each of the last ${entries.length} ledger entries`}
                  times={entries.map((entry) => Date.parse(entry.createdAt) / 1000)}
                  series={series}
                  summary={`from ${usd(entries[0]!.balanceAfterUsd)} to ${usd(entries.at(-1)!.balanceAfterUsd)}`}
                />
              )}
            </Section>
          </div>
        );
      }}
    </Loaded>
  );
}

export function OverviewPage({ session }: { session: Session }) {
  const can = (permission: string) => session.permissions.includes(permission);
  return (
    <div class="stack">
      {can('billing:read') && <CreditSections />}
      {can('usage:read') && <UsageSections canReadAgents={can('agents:read')} />}
    </div>
  );
}
