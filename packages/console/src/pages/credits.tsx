import { useEffect, useState } from 'preact/hooks';
import { ApiFailure, api, org, query } from '../api.ts';
import { Empty, ErrorNotice, Field, Loaded, Loading, Section, useLoad } from '../components.tsx';
import { agentChoices, creditSummary, type LedgerEntry, type Page } from '../data.ts';
import { dateTime, usd } from '../format.ts';
import { ActionForm, TextInput } from '../forms.tsx';
import { Pager, useCursors } from '../pager.tsx';
import { base, onLinkClick } from '../router.ts';
import { Table } from '../table.tsx';

interface ReconcileReport {
  ok: boolean;
  checkedAt: string;
  balanceUsd: number;
  ledgerSumUsd: number;
  entryCount: number;
  differences: { kind: string; message: string }[];
  warnings: string[];
}

interface LedgerFilters {
  category: '' | 'purchases' | 'usage';
  agentId: string;
  from: string;
  to: string;
}

/** The filters as the ledger endpoint reads them; the dates are whole UTC days, `to` inclusive. */
function ledgerParameters(filters: LedgerFilters) {
  const nextDay = (date: string) => new Date(Date.parse(`${date}T00:00:00Z`) + 86_400_000).toISOString();
  return {
    category: filters.category,
    agentId: filters.agentId,
    from: filters.from ? `${filters.from}T00:00:00Z` : '',
    to: filters.to ? nextDay(filters.to) : '',
  };
}

function BuyCredits() {
  const [amount, setAmount] = useState('25');
  return (
    <ActionForm
      submit="Buy credits"
      pending="Opening Stripe…"
      run={async () => {
        const session = await api<{ url: string }>('POST', org('ai-credits/checkout-session'), {
          creditAmountUsd: Number(amount),
          successUrl: `${location.origin}${base}credits/return?session_id={CHECKOUT_SESSION_ID}`,
          cancelUrl: `${location.origin}${base}credits?checkout=cancelled`,
        });
        location.assign(session.url);
      }}
    >
      <Field label="Amount (USD)">
        <TextInput type="number" min="0.5" step="0.01" required value={amount} onValue={setAmount} />
      </Field>
    </ActionForm>
  );
}

function Reconcile() {
  const [load, reload] = useLoad(() => api<ReconcileReport>('GET', org('ai-credits/reconcile')), []);
  return (
    <Section
      title="Reconcile status"
      actions={
        <button type="button" class="secondary" onClick={reload}>
          Check again
        </button>
      }
    >
      <Loaded load={load}>
        {(report) => (
          <div>
            <p class={report.ok ? 'tone-ok' : 'tone-over'} role="status">
              {report.ok ? 'Balanced' : 'Out of balance'}: balance {usd(report.balanceUsd)}, sum of{' '}
              {report.entryCount} entries {usd(report.ledgerSumUsd)} (checked {dateTime(report.checkedAt)})
            </p>
            {report.differences.length > 0 && (
              <ul>
                {report.differences.map((difference) => (
                  <li key={difference.message}>
                    <code>{difference.kind}</code> {difference.message}
                  </li>
                ))}
              </ul>
            )}
            {report.warnings.map((warning) => (
              <p key={warning} class="hint">
                {warning}
              </p>
            ))}
          </div>
        )}
      </Loaded>
    </Section>
  );
}

function Ledger() {
  const [filters, setFilters] = useState<LedgerFilters>({ category: '', agentId: '', from: '', to: '' });
  const cursors = useCursors();
  const { cursor } = cursors;
  const [agents] = useLoad(() => agentChoices(false), []);
  const [load] = useLoad(
    () =>
      api<Page<LedgerEntry>>(
        'GET',
        org(`ai-credits/ledger${query({ ...ledgerParameters(filters), limit: 50, cursor })}`),
      ),
    [filters, cursor],
  );
  const update = (change: Partial<LedgerFilters>) => {
    setFilters({ ...filters, ...change });
    cursors.first();
  };
  const csvHref = org(`ai-credits/ledger${query({ ...ledgerParameters(filters), format: 'csv' })}`);
  const agentName = (id: string | null | undefined) =>
    (agents.state === 'ready' && agents.data.find((agent) => agent.id === id)?.name) || id || '—';
  return (
    <Section
      title="Ledger"
      actions={
        <a class="button secondary" href={csvHref} download>
          Download CSV
        </a>
      }
    >
      <form class="filters" aria-label="Ledger filters" onSubmit={(event) => event.preventDefault()}>
        <Field label="Category">
          <select
            value={filters.category}
            onChange={(event) =>
              update({
                category: (event.currentTarget as HTMLSelectElement).value as LedgerFilters['category'],
              })
            }
          >
            <option value="">All entries</option>
            <option value="purchases">Purchases, grants, refunds, adjustments</option>
            <option value="usage">Usage</option>
          </select>
        </Field>
        <Field label="Agent">
          <select
            value={filters.agentId}
            onChange={(event) => update({ agentId: (event.currentTarget as HTMLSelectElement).value })}
          >
            <option value="">All agents</option>
            {agents.state === 'ready' &&
              agents.data.map((agent) => (
                <option key={agent.id} value={agent.id}>
                  {agent.name}
                </option>
              ))}
          </select>
        </Field>
        {(['from', 'to'] as const).map((end) => (
          <Field key={end} label={end === 'from' ? 'From (UTC day)' : 'To (UTC day, included)'}>
            <input
              type="date"
              value={filters[end]}
              onChange={(event) => update({ [end]: (event.currentTarget as HTMLInputElement).value })}
            />
          </Field>
        ))}
      </form>
      <Loaded load={load}>
        {(page) =>
          page.data.length === 0 ? (
            <Empty>No ledger entry matches these filters.</Empty>
          ) : (
            <div>
              <div class="table-scroll">
                <Table
                  class="ledger"
                  caption="Ledger entries, newest first"
                  columns={[
                    'Time',
                    'Type',
                    { heading: 'Amount', number: true },
                    { heading: 'Balance after', number: true },
                    'Agent',
                    'Reference',
                    'By',
                  ]}
                >
                  {page.data.map((entry) => (
                    <tr key={entry.id} data-entry-id={entry.id}>
                      <td>{dateTime(entry.createdAt)}</td>
                      <td>
                        <span class={`tag tag-${entry.type}`}>{entry.type}</span>
                      </td>
                      <td class={`number ${entry.amountUsd < 0 ? 'debit' : 'credit'}`}>
                        {usd(entry.amountUsd, true)}
                      </td>
                      <td class="number">{usd(entry.balanceAfterUsd, true)}</td>
                      <td>{agentName(entry.reference.agentId)}</td>
                      <td class="mono">
                        {entry.reference.stripeSessionId ?? entry.reference.callId ?? entry.reason ?? '—'}
                      </td>
                      <td>{entry.actor}</td>
                    </tr>
                  ))}
                </Table>
              </div>
              <Pager
                label="Ledger pages"
                cursors={cursors}
                nextCursor={page.nextCursor}
                back="Newer"
                forward="Older"
              >
                Page {cursors.page}
              </Pager>
            </div>
          )
        }
      </Loaded>
    </Section>
  );
}

export function CreditsPage({ canBuy }: { canBuy: boolean }) {
  const [summary] = useLoad(creditSummary, []);
  const cancelled = new URLSearchParams(location.search).get('checkout') === 'cancelled';
  return (
    <div class="stack">
      {cancelled && <p role="status">The purchase was cancelled: nothing was charged.</p>}
      <Section title="Balance">
        <Loaded load={summary}>
          {(data) => (
            <div class="row">
              <p class="big">{usd(data.balanceUsd)}</p>
              <dl class="facts">
                <dt>Held by chats in flight</dt>
                <dd>{usd(data.reservedUsd)}</dd>
                <dt>Spent this month</dt>
                <dd>{usd(data.spentThisMonthUsd)}</dd>
              </dl>
            </div>
          )}
        </Loaded>
        {canBuy && <BuyCredits />}
      </Section>
      <Ledger />
      <Reconcile />
    </div>
  );
}

interface SyncResult {
  id: string;
  creditAmountUsd: number;
  credited: boolean;
  outcome: 'credited' | 'already_credited' | 'not_paid' | 'rejected';
  balanceUsd: number;
}

/**
 * Stripe sends the buyer back here. The webhook usually credits first; sync credits a paid
 * session the webhook has not delivered yet (exactly once either way), so the page shows the
 * purchase as soon as it is in the ledger, asking again while Stripe still processes it.
 */
export function CheckoutReturnPage() {
  const sessionId = new URLSearchParams(location.search).get('session_id') ?? '';
  const [result, setResult] = useState<SyncResult | null>(null);
  const [error, setError] = useState<ApiFailure | null>(null);
  useEffect(() => {
    let stopped = false;
    let attempt = 0;
    const check = async () => {
      try {
        const synced = await api<SyncResult>(
          'POST',
          org(`ai-credits/checkout-session/${encodeURIComponent(sessionId)}/sync`),
        );
        if (stopped) return;
        setResult(synced);
        if (synced.outcome === 'not_paid' && attempt++ < 20) setTimeout(check, 1500);
      } catch (failure) {
        if (!stopped) setError(ApiFailure.from(failure));
      }
    };
    if (/^cs_[A-Za-z0-9_]+$/.test(sessionId)) check();
    else
      setError(
        new ApiFailure(
          'validation_failed',
          'This page needs the session_id Stripe adds to the return URL',
          400,
        ),
      );
    return () => {
      stopped = true;
    };
  }, [sessionId]);
  return (
    <Section title="Your purchase">
      <ErrorNotice error={error} />
      {!error && !result && <Loading label="Checking the payment with Stripe" />}
      {result && (result.outcome === 'credited' || result.outcome === 'already_credited') && (
        <p class="tone-ok" role="status">
          {usd(result.creditAmountUsd)} of credits added. New balance: {usd(result.balanceUsd)}.
        </p>
      )}
      {result?.outcome === 'not_paid' && (
        <p role="status">Stripe has not confirmed the payment yet; this page checks again.</p>
      )}
      {result?.outcome === 'rejected' && (
        <p class="tone-over" role="alert">
          Stripe rejected this payment: no credits were added.
        </p>
      )}
      <p>
        <a href={`${base}credits`} onClick={onLinkClick}>
          Back to credits and the ledger
        </a>
      </p>
    </Section>
  );
}
