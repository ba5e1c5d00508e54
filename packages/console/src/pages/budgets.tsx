import { useEffect, useState } from 'preact/hooks';
import { api, org, query } from '../api.ts';
import {
  AgentPicker,
  Empty,
  ErrorNotice,
  Field,
  Loaded,
  numberOrNull,
  Section,
  useAction,
  useLoad,
} from '../components.tsx';
import { agentBudget, type Budget, listAgents, userUsage } from '../data.ts';
import { dateTime, usd } from '../format.ts';
import { ActionForm, SaveFooter, TextInput } from '../forms.tsx';
import { Pager, useCursors } from '../pager.tsx';
import { Table } from '../table.tsx';

interface Override {
  externalUserId: string;
  monthlyBudgetUsd: number;
  currentMonthSpendUsd: number;
  remainingBudgetUsd: number;
  status: 'ok' | 'near' | 'over';
}

const statusText = { ok: 'Within cap', near: 'Near cap', over: 'At or over cap' } as const;

function Policy({ agentId, canManage }: { agentId: string; canManage: boolean }) {
  const [load, reload] = useLoad(() => agentBudget(agentId), [agentId]);
  const [draft, setDraft] = useState<Record<string, string | boolean>>({});
  const action = useAction();
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    if (load.state !== 'ready') return;
    const budget = load.data;
    setDraft({
      enabled: budget.enabled,
      monthlyBudgetUsd: budget.monthlyBudgetUsd?.toString() ?? '',
      defaultUserBudgetUsd: budget.defaultUserBudgetUsd?.toString() ?? '',
      anonymousMonthlyBudgetUsd: budget.anonymousMonthlyBudgetUsd?.toString() ?? '',
      resetDayOfMonthUtc: String(budget.resetDayOfMonthUtc),
    });
  }, [load]);
  const input = (name: string, label: string, hint?: string) => (
    <Field label={label} hint={hint}>
      <input
        type="number"
        min="0"
        step="0.01"
        name={name}
        disabled={!canManage}
        value={String(draft[name] ?? '')}
        onInput={(event) => {
          setSaved(false);
          setDraft({ ...draft, [name]: (event.currentTarget as HTMLInputElement).value });
        }}
      />
    </Field>
  );
  return (
    <Section title="Policy">
      <Loaded load={load}>
        {(budget: Budget) => (
          <form
            class="policy"
            onSubmit={async (event) => {
              event.preventDefault();
              const ok = await action.run(() =>
                api('PATCH', org(`agents/${agentId}/budget`), {
                  enabled: draft.enabled === true,
                  monthlyBudgetUsd: numberOrNull(String(draft.monthlyBudgetUsd)),
                  defaultUserBudgetUsd: numberOrNull(String(draft.defaultUserBudgetUsd)),
                  anonymousMonthlyBudgetUsd: numberOrNull(String(draft.anonymousMonthlyBudgetUsd)),
                  resetDayOfMonthUtc: Number(draft.resetDayOfMonthUtc),
                }),
              );
              if (ok) {
                setSaved(true);
                reload();
              }
            }}
          >
            <p>
              Spent this period: <strong>{usd(budget.currentMonthSpendUsd)}</strong>
              {budget.remainingBudgetUsd !== null && (
                <span> · remaining {usd(budget.remainingBudgetUsd)}</span>
              )}{' '}
              · resets {dateTime(budget.resetsAt)} · {budget.trackedUserCount} users seen
            </p>
            <label class="check">
              <input
                type="checkbox"
                name="enabled"
                disabled={!canManage}
                checked={draft.enabled === true}
                onChange={(event) => {
                  setSaved(false);
                  setDraft({ ...draft, enabled: (event.currentTarget as HTMLInputElement).checked });
                }}
              />
              Enforce the caps
            </label>
            <div class="grid-4">
              {input('monthlyBudgetUsd', 'Agent monthly cap (USD)')}
              {input('defaultUserBudgetUsd', 'Default per-user cap (USD)', 'Empty: no per-user cap')}
              {input('anonymousMonthlyBudgetUsd', 'Anonymous pool (USD)', 'Empty: no anonymous cap')}
              <Field label="Reset day (1-28, UTC)">
                <input
                  type="number"
                  min="1"
                  max="28"
                  name="resetDayOfMonthUtc"
                  disabled={!canManage}
                  value={String(draft.resetDayOfMonthUtc ?? '1')}
                  onInput={(event) =>
                    setDraft({
                      ...draft,
                      resetDayOfMonthUtc: (event.currentTarget as HTMLInputElement).value,
                    })
                  }
                />
              </Field>
            </div>
            <SaveFooter submit="Save policy" canManage={canManage} action={action} saved={saved} />
          </form>
        )}
      </Loaded>
    </Section>
  );
}

function OverrideRow({
  row,
  agentId,
  canManage,
  changed,
}: {
  row: Override;
  agentId: string;
  canManage: boolean;
  changed: () => void;
}) {
  const [editing, setEditing] = useState(false);
  const [cap, setCap] = useState(String(row.monthlyBudgetUsd));
  const action = useAction();
  const path = org(`agents/${agentId}/external-users/${encodeURIComponent(row.externalUserId)}/budget`);
  return (
    <tr class={`status-${row.status}`}>
      <th scope="row">{row.externalUserId}</th>
      <td class="number">
        {editing ? (
          <TextInput
            type="number"
            min="0"
            step="0.01"
            aria-label={`New cap for ${row.externalUserId} (USD)`}
            value={cap}
            onValue={setCap}
          />
        ) : (
          usd(row.monthlyBudgetUsd, true)
        )}
      </td>
      <td class="number">{usd(row.currentMonthSpendUsd, true)}</td>
      <td>
        <span class={`badge badge-${row.status}`}>{statusText[row.status]}</span>
      </td>
      {canManage && (
        <td class="actions">
          {editing ? (
            <button
              type="button"
              disabled={action.pending}
              onClick={async () => {
                if (await action.run(() => api('PUT', path, { monthlyBudgetUsd: Number(cap) }))) {
                  setEditing(false);
                  changed();
                }
              }}
            >
              Save
            </button>
          ) : (
            <button
              type="button"
              class="secondary"
              aria-label={`Change the cap of ${row.externalUserId}`}
              onClick={() => setEditing(true)}
            >
              Change
            </button>
          )}
          <button
            type="button"
            class="danger"
            aria-label={`Remove the override of ${row.externalUserId}`}
            disabled={action.pending}
            onClick={async () => {
              if (confirm(`Remove ${row.externalUserId}'s override? The default cap applies again.`)) {
                if (await action.run(() => api('DELETE', path))) changed();
              }
            }}
          >
            Remove
          </button>
          <ErrorNotice error={action.error} />
        </td>
      )}
    </tr>
  );
}

function Overrides({ agentId, canManage }: { agentId: string; canManage: boolean }) {
  const [search, setSearch] = useState('');
  const cursors = useCursors();
  const { cursor } = cursors;
  const [load, reload] = useLoad(
    () =>
      api<{ total: number; data: Override[]; nextCursor: string | null }>(
        'GET',
        org(`agents/${agentId}/external-users/budgets${query({ search, cursor, limit: 25 })}`),
      ),
    [agentId, search, cursor],
  );
  const [newUser, setNewUser] = useState('');
  const [newCap, setNewCap] = useState('');
  return (
    <Section title="Per-user overrides">
      <div class="filters">
        <Field label="Search users">
          <TextInput
            type="search"
            value={search}
            onValue={(value) => {
              setSearch(value);
              cursors.first();
            }}
          />
        </Field>
      </div>
      {canManage && (
        <ActionForm
          label="Add an override"
          submit="Add override"
          run={() =>
            api('PUT', org(`agents/${agentId}/external-users/${encodeURIComponent(newUser.trim())}/budget`), {
              monthlyBudgetUsd: Number(newCap),
            })
          }
          done={() => {
            setNewUser('');
            setNewCap('');
            reload();
          }}
        >
          <Field label="User id">
            <TextInput required value={newUser} onValue={setNewUser} />
          </Field>
          <Field label="Monthly cap (USD)">
            <TextInput type="number" min="0" step="0.01" required value={newCap} onValue={setNewCap} />
          </Field>
        </ActionForm>
      )}
      <Loaded load={load}>
        {(page) =>
          page.data.length === 0 ? (
            <Empty>
              {search
                ? `No override matches "${search}".`
                : 'No user has an override: the default cap applies to all.'}
            </Empty>
          ) : (
            <div>
              <Table
                class="overrides"
                columns={[
                  'User',
                  { heading: 'Cap', number: true },
                  { heading: 'Spent this period', number: true },
                  'Status',
                  canManage && 'Actions',
                ]}
              >
                {page.data.map((row) => (
                  <OverrideRow
                    key={`${row.externalUserId}:${row.monthlyBudgetUsd}`}
                    row={row}
                    agentId={agentId}
                    canManage={canManage}
                    changed={reload}
                  />
                ))}
              </Table>
              <Pager
                label="Override pages"
                cursors={cursors}
                nextCursor={page.nextCursor}
                back="Previous"
                forward="Next"
              >
                {page.total} override{page.total === 1 ? '' : 's'}
              </Pager>
            </div>
          )
        }
      </Loaded>
    </Section>
  );
}

function HeaviestUsers({ agentId }: { agentId: string }) {
  const [load] = useLoad(() => userUsage(agentId, 20), [agentId]);
  return (
    <Section title="Heaviest users this period">
      <Loaded load={load}>
        {(page) =>
          page.data.length === 0 ? (
            <Empty>No identified user has spent anything this period.</Empty>
          ) : (
            <Table
              columns={[
                'User',
                { heading: 'Spent', number: true },
                { heading: 'Cap', number: true },
                'Cap from',
                'Status',
              ]}
            >
              {page.data.map((user) => {
                const cap = user.monthlyBudgetUsd;
                const status =
                  cap === null
                    ? 'ok'
                    : user.spendUsd >= cap
                      ? 'over'
                      : user.spendUsd >= cap * 0.8
                        ? 'near'
                        : 'ok';
                return (
                  <tr key={user.externalUserId} class={`status-${status}`}>
                    <th scope="row">{user.externalUserId}</th>
                    <td class="number">{usd(user.spendUsd, true)}</td>
                    <td class="number">{usd(cap, true)}</td>
                    <td>{user.budgetSource}</td>
                    <td>
                      <span class={`badge badge-${status}`}>
                        {cap === null ? 'No cap' : statusText[status]}
                      </span>
                    </td>
                  </tr>
                );
              })}
            </Table>
          )
        }
      </Loaded>
    </Section>
  );
}

export function BudgetsPage({ canManage }: { canManage: boolean }) {
  const [agents] = useLoad(listAgents, []);
  const [agentId, setAgentId] = useState('');
  return (
    <Loaded load={agents}>
      {(page) => {
        if (page.data.length === 0) return <Empty>No agents yet: budgets belong to an agent.</Empty>;
        const selected = agentId || page.data[0]!.id;
        return (
          <div class="stack">
            <AgentPicker agents={page.data} value={selected} onChange={setAgentId} />
            <Policy agentId={selected} canManage={canManage} />
            <Overrides agentId={selected} canManage={canManage} />
            <HeaviestUsers agentId={selected} />
          </div>
        );
      }}
    </Loaded>
  );
}
