import { type JSX, render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure, type Session, setOrganization, signIn, signOut, useSession, whoAmI } from './api.ts';
import { ErrorNotice, Loading } from './components.tsx';
import { AgentsPage } from './pages/agents.tsx';
import { ApiKeysPage } from './pages/api-keys.tsx';
import { BudgetsPage } from './pages/budgets.tsx';
import { CheckoutReturnPage, CreditsPage } from './pages/credits.tsx';
import { LlmCallsPage } from './pages/llm-calls.tsx';
import { OverviewPage } from './pages/overview.tsx';
import { SignInPage } from './pages/sign-in.tsx';
import { base, onLinkClick, usePath } from './router.ts';
import './styles.css';

interface Page {
  path: string;
  title: string;
  /** The permission the page needs (the role table); the API enforces it again. */
  permission: string | null;
  render: (session: Session) => JSX.Element;
}

const can = (session: Session, permission: string) => session.permissions.includes(permission);

const pages: Page[] = [
  { path: '', title: 'Overview', permission: null, render: (session) => <OverviewPage session={session} /> },
  {
    path: 'credits',
    title: 'Credits and ledger',
    permission: 'billing:read',
    render: (session) => <CreditsPage canBuy={can(session, 'billing:manage')} />,
  },
  {
    path: 'budgets',
    title: 'Budgets',
    permission: 'agents:read',
    render: (session) => <BudgetsPage canManage={can(session, 'agents:manage')} />,
  },
  {
    path: 'agents',
    title: 'Agents and embedding',
    permission: 'agents:read',
    render: (session) => <AgentsPage canManage={can(session, 'agents:manage')} />,
  },
  { path: 'llm-calls', title: 'LLM calls', permission: 'usage:read', render: () => <LlmCallsPage /> },
  { path: 'api-keys', title: 'API keys', permission: 'keys:manage', render: () => <ApiKeysPage /> },
];
const checkoutReturn: Page = {
  path: 'credits/return',
  title: 'Credit purchase',
  permission: 'billing:read',
  render: () => <CheckoutReturnPage />,
};

/**
 * The demo's one-click sign-in: `/console/#key=mcpstack_sk_…`. The fragment never reaches a
 * server or a Referer; it is read once, removed from the address bar and history at once, and
 * exchanged for the session cookie. Nothing keeps the key afterwards.
 */
function takeKeyFromFragment(): string | null {
  const match = /^#key=(mcpstack_sk_[0-9a-f_]+)$/.exec(location.hash);
  if (!match) return null;
  history.replaceState(null, '', location.pathname + location.search);
  return match[1]!;
}

function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [error, setError] = useState<ApiFailure | null>(null);
  const { path, visit } = usePath();
  const heading = useRef<HTMLHeadingElement>(null);
  useSession(session ?? null, () => setSession(null));

  useEffect(() => {
    const key = takeKeyFromFragment();
    (key ? signIn(key) : whoAmI()).then(
      (found) => setSession(found),
      (failure: unknown) => {
        if (key && failure instanceof ApiFailure) setError(failure);
        setSession(null);
      },
    );
  }, []);

  useEffect(() => {
    if (session) setOrganization(session.organizationId);
  }, [session]);

  // A new page moves focus to its heading, as a full page load would for a screen reader.
  useEffect(() => {
    if (visit > 0) heading.current?.focus();
  }, [visit]);

  if (session === undefined) return <Loading label="Opening the console" />;
  if (session === null) {
    return (
      <SignInPage
        error={error}
        onSignedIn={(signedIn) => {
          setError(null);
          setSession(signedIn);
        }}
      />
    );
  }
  setOrganization(session.organizationId);
  const visible = pages.filter((page) => page.permission === null || can(session, page.permission));
  const page = path === checkoutReturn.path ? checkoutReturn : pages.find((entry) => entry.path === path);
  const allowed = page && (page.permission === null || can(session, page.permission));

  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <strong class="brand">MCP Stack console</strong>
        <nav aria-label="Console">
          <ul>
            {visible.map((entry) => (
              <li key={entry.path}>
                <a
                  href={`${base}${entry.path}`}
                  onClick={onLinkClick}
                  aria-current={entry.path === (page?.path.split('/')[0] ?? '') ? 'page' : undefined}
                >
                  {entry.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span>
            {session.keyName} · <span class="role">{session.role}</span>
          </span>
          <button
            type="button"
            class="secondary"
            onClick={async () => {
              try {
                await signOut();
              } finally {
                setSession(null);
              }
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main id="main">
        <h1 tabIndex={-1} ref={heading}>
          {page?.title ?? 'Not found'}
        </h1>
        {!page && (
          <ErrorNotice error={new ApiFailure('not_found', `No console page at ${base}${path}`, 404)} />
        )}
        {page && !allowed && (
          <ErrorNotice
            error={
              new ApiFailure(
                'insufficient_permissions',
                `The ${session.role} role cannot open this page`,
                403,
              )
            }
          />
        )}
        {page && allowed && page.render(session)}
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
