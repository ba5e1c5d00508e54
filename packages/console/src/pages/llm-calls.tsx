import { useEffect, useState } from 'preact/hooks';
import { type ApiFailure, api, org, query } from '../api.ts';
import { AgentPicker, Empty, ErrorNotice, Field, Loaded, Loading, useLoad } from '../components.tsx';
import { agentChoices, type Page } from '../data.ts';
import { count, dateTime, usd } from '../format.ts';
import { Table } from '../table.tsx';

interface LlmCall {
  id: string;
  conversationId: string;
  externalUserId: string | null;
  visitorId: string | null;
  model: string;
  status: 'ok' | 'error' | 'aborted';
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  usageEstimated: boolean;
  costUsd: number;
  /** Reported cost above the hold, not booked (a model that ignored its limit). */
  overageUsd?: number;
  settledBy?: 'stream' | 'journal' | 'expiry';
  latencyMs: number;
  timeToFirstTokenMs: number | null;
  finishReason: string | null;
  toolCalls: { toolCallId: string; toolName: string }[];
  error: string | null;
  createdAt: string;
}

interface Filters {
  user: string;
  estimatedOnly: boolean;
  errorsOnly: boolean;
  flaggedOnly: boolean;
}

/** The filters that are a checkbox each, with their labels. */
const checks = [
  ['estimatedOnly', 'Estimated usage only'],
  ['errorsOnly', 'Errors only'],
  ['flaggedOnly', 'Flagged for review only'],
] as const;

/**
 * The log pages through the API (newest first, 100 a page). The filters narrow it on the server
 * (`externalUserId`, `usageEstimated`, `status=error`, `flagged`), so every page is full of matches
 * and "Load more" reads further back among them.
 */
function CallLog({ agentId }: { agentId: string }) {
  const [calls, setCalls] = useState<LlmCall[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<ApiFailure | null>(null);
  const [filters, setFilters] = useState<Filters>({
    user: '',
    estimatedOnly: false,
    errorsOnly: false,
    flaggedOnly: false,
  });
  const loadPage = async (from: string | null, reset: boolean) => {
    setLoading(true);
    setError(null);
    try {
      const narrowed = query({
        limit: 100,
        cursor: from,
        externalUserId: filters.user.trim() || null,
        usageEstimated: filters.estimatedOnly ? 'true' : null,
        status: filters.errorsOnly ? 'error' : null,
        flagged: filters.flaggedOnly ? 'true' : null,
      });
      const page = await api<Page<LlmCall>>('GET', org(`agents/${agentId}/usage/llm-calls${narrowed}`));
      setCalls((previous) => (reset ? page.data : [...previous, ...page.data]));
      setCursor(page.nextCursor);
    } catch (failure) {
      setError(failure as ApiFailure);
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    setCalls([]);
    loadPage(null, true);
  }, [agentId, filters]);
  const shown = calls;
  return (
    <div class="card">
      <form class="filters" aria-label="LLM-call filters" onSubmit={(event) => event.preventDefault()}>
        <Field label="Signed-in user id">
          <input
            type="search"
            value={filters.user}
            onChange={(event) =>
              setFilters({ ...filters, user: (event.currentTarget as HTMLInputElement).value })
            }
          />
        </Field>
        {checks.map(([name, label]) => (
          <label key={name} class="check">
            <input
              type="checkbox"
              checked={filters[name]}
              onChange={(event) =>
                setFilters({ ...filters, [name]: (event.currentTarget as HTMLInputElement).checked })
              }
            />
            {label}
          </label>
        ))}
      </form>
      <ErrorNotice error={error} />
      {shown.length === 0 && !loading && !error && (
        <Empty>
          {filters.user.trim() || filters.estimatedOnly || filters.errorsOnly || filters.flaggedOnly
            ? 'No call matches these filters.'
            : 'No LLM calls recorded for this agent yet.'}
        </Empty>
      )}
      {shown.length > 0 && (
        <div class="table-scroll">
          <Table
            class="calls"
            columns={[
              'Time',
              'User',
              'Model',
              'Status',
              { heading: 'Tokens in / cached / out', number: true },
              { heading: 'Cost', number: true },
              { heading: 'Latency (first token)', number: true },
              'Tool calls',
            ]}
          >
            {shown.map((call) => (
              <tr key={call.id} class={call.status === 'ok' ? '' : 'status-over'}>
                <td>{dateTime(call.createdAt)}</td>
                <td>{call.externalUserId ?? <span class="hint">anonymous</span>}</td>
                <td>{call.model}</td>
                <td>
                  {call.status}
                  {call.usageEstimated && <span class="badge badge-near">estimated</span>}
                  {((call.overageUsd ?? 0) > 0 || call.settledBy === 'expiry') && (
                    <span class="badge badge-over">flagged</span>
                  )}
                  {call.error && <div class="hint">{call.error}</div>}
                </td>
                <td class="number">
                  {count(call.inputTokens)} / {count(call.cachedInputTokens)} / {count(call.outputTokens)}
                </td>
                <td class="number">{usd(call.costUsd, true)}</td>
                <td class="number">
                  {count(call.latencyMs)} ms
                  {call.timeToFirstTokenMs !== null && ` (${count(call.timeToFirstTokenMs)} ms)`}
                </td>
                <td>
                  {call.toolCalls.length === 0 ? '—' : call.toolCalls.map((tool) => tool.toolName).join(', ')}
                </td>
              </tr>
            ))}
          </Table>
        </div>
      )}
      {loading && <Loading label="Loading LLM calls" />}
      <nav class="pager" aria-label="LLM-call pages">
        <span>
          {shown.length} of {calls.length} loaded calls shown
        </span>
        <button
          type="button"
          class="secondary"
          disabled={!cursor || loading}
          onClick={() => loadPage(cursor, false)}
        >
          Load older calls
        </button>
      </nav>
    </div>
  );
}

export function LlmCallsPage() {
  const [agents] = useLoad(() => agentChoices(false), []);
  const [agentId, setAgentId] = useState('');
  return (
    <Loaded load={agents}>
      {(list) => {
        if (list.length === 0) return <Empty>No agents yet: LLM calls belong to an agent.</Empty>;
        const selected = agentId || list[0]!.id;
        return (
          <div class="stack">
            <AgentPicker agents={list} value={selected} onChange={setAgentId} />
            <CallLog agentId={selected} />
          </div>
        );
      }}
    </Loaded>
  );
}
