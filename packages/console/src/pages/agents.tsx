import { useEffect, useState } from 'preact/hooks';
import { type ApiFailure, api, org } from '../api.ts';
import {
  AgentPicker,
  CopyButton,
  Empty,
  ErrorNotice,
  Field,
  Loaded,
  Section,
  useAction,
  useLoad,
} from '../components.tsx';
import { type Agent, listAgents } from '../data.ts';
import { dateTime } from '../format.ts';
import { ActionForm, SaveFooter, TextInput } from '../forms.tsx';

interface Domain {
  id: string;
  domain: string;
  status: 'pending' | 'verified';
  verifiedAt: string | null;
  dnsRecord: { type: 'TXT'; name: string; value: string };
}

interface EmbedKey {
  id: string;
  name: string;
  publicKey: string;
  allowedOrigins: string[];
  createdAt: string;
}

/** What DNS answered, from a 409 domain_verification_failed (`expected` and `found`). */
function DnsAnswer({ error }: { error: ApiFailure }) {
  const found = Array.isArray(error.details.found) ? (error.details.found as string[]) : null;
  return (
    <div class="error" role="alert">
      <code>{error.code}</code> {error.message}
      {found && (
        <p>
          DNS answered:{' '}
          {found.length === 0 ? 'no TXT record' : found.map((value) => <code key={value}>{value}</code>)}
        </p>
      )}
    </div>
  );
}

function DomainRow({
  domain,
  agentId,
  canManage,
  changed,
}: {
  domain: Domain;
  agentId: string;
  canManage: boolean;
  changed: () => void;
}) {
  const action = useAction();
  const [confirmed, setConfirmed] = useState(false);
  const path = org(`agents/${agentId}/verified-domains/${domain.id}`);
  return (
    <li class="domain">
      <div class="row">
        <strong>{domain.domain}</strong>
        <span class={`badge badge-${domain.status === 'verified' ? 'ok' : 'near'}`}>{domain.status}</span>
        {domain.verifiedAt && <span class="hint">since {dateTime(domain.verifiedAt)}</span>}
      </div>
      {domain.status === 'pending' && (
        <dl class="dns">
          <dt>Type</dt>
          <dd>TXT</dd>
          <dt>Name</dt>
          <dd>
            <code>{domain.dnsRecord.name}</code>{' '}
            <CopyButton text={domain.dnsRecord.name} label={`Copy the TXT record name of ${domain.domain}`} />
          </dd>
          <dt>Value</dt>
          <dd>
            <code>{domain.dnsRecord.value}</code>{' '}
            <CopyButton
              text={domain.dnsRecord.value}
              label={`Copy the TXT record value of ${domain.domain}`}
            />
          </dd>
        </dl>
      )}
      {canManage && (
        <div class="row">
          {domain.status === 'pending' && (
            <button
              type="button"
              disabled={action.pending}
              onClick={async () => {
                if (await action.run(() => api('POST', `${path}/confirm`))) {
                  setConfirmed(true);
                  changed();
                }
              }}
            >
              {action.pending ? 'Asking DNS…' : `Confirm ${domain.domain}`}
            </button>
          )}
          <button
            type="button"
            class="danger"
            aria-label={`Remove ${domain.domain}`}
            onClick={async () =>
              confirm(`Remove ${domain.domain}? Embeds on it stop working.`) &&
              (await action.run(() => api('DELETE', path))) &&
              changed()
            }
          >
            Remove
          </button>
        </div>
      )}
      {confirmed && (
        <p class="tone-ok" role="status">
          DNS answered with the expected record: verified.
        </p>
      )}
      {action.error &&
        (action.error.code === 'domain_verification_failed' ? (
          <DnsAnswer error={action.error} />
        ) : (
          <ErrorNotice error={action.error} />
        ))}
    </li>
  );
}

function Domains({ agentId, canManage }: { agentId: string; canManage: boolean }) {
  const [load, reload] = useLoad(
    () => api<{ data: Domain[] }>('GET', org(`agents/${agentId}/verified-domains`)),
    [agentId],
  );
  const [domain, setDomain] = useState('');
  return (
    <Section title="Verified domains">
      <Loaded load={load}>
        {({ data }) =>
          data.length === 0 ? (
            <Empty>No domains yet: add the site that embeds this agent, then publish its TXT record.</Empty>
          ) : (
            <ul class="plain">
              {data.map((entry) => (
                <DomainRow
                  key={`${entry.id}:${entry.status}`}
                  domain={entry}
                  agentId={agentId}
                  canManage={canManage}
                  changed={reload}
                />
              ))}
            </ul>
          )
        }
      </Loaded>
      {canManage && (
        <ActionForm
          label="Add a domain"
          submit="Add domain"
          run={() => api('POST', org(`agents/${agentId}/verified-domains`), { domain: domain.trim() })}
          done={() => {
            setDomain('');
            reload();
          }}
        >
          <Field label="Domain">
            <TextInput required placeholder="shop.example.com" value={domain} onValue={setDomain} />
          </Field>
        </ActionForm>
      )}
    </Section>
  );
}

function EmbedKeys({ agentId, canManage }: { agentId: string; canManage: boolean }) {
  const [load, reload] = useLoad(
    () => api<{ data: EmbedKey[] }>('GET', org(`agents/${agentId}/embed-keys`)),
    [agentId],
  );
  const [name, setName] = useState('');
  const [origins, setOrigins] = useState('');
  const revoke = useAction();
  const tag = (key: EmbedKey) =>
    `<script src="${location.origin}/agent-sdk.js" data-public-key="${key.publicKey}" async></script>`;
  return (
    <Section title="Embed keys">
      <Loaded load={load}>
        {({ data }) =>
          data.length === 0 ? (
            <Empty>No embed keys: create one to get the script tag.</Empty>
          ) : (
            <ul class="plain">
              {data.map((key) => (
                <li key={key.id} class="embed-key">
                  <div class="row">
                    <strong>{key.name}</strong>
                    <span class="hint">created {dateTime(key.createdAt)}</span>
                  </div>
                  <p>
                    Allowed origins:{' '}
                    {key.allowedOrigins.length === 0
                      ? 'none'
                      : key.allowedOrigins.map((origin) => <code key={origin}>{origin}</code>)}
                  </p>
                  <div class="row">
                    <pre class="snippet">{tag(key)}</pre>
                    <CopyButton text={tag(key)} label={`Copy the script tag of ${key.name}`} />
                  </div>
                  {canManage && (
                    <button
                      type="button"
                      class="danger"
                      aria-label={`Revoke ${key.name}`}
                      onClick={async () =>
                        confirm(`Revoke ${key.name}? Pages using it stop chatting at once.`) &&
                        (await revoke.run(() =>
                          api('DELETE', org(`agents/${agentId}/embed-keys/${key.id}`)),
                        )) &&
                        reload()
                      }
                    >
                      Revoke
                    </button>
                  )}
                </li>
              ))}
            </ul>
          )
        }
      </Loaded>
      <ErrorNotice error={revoke.error} />
      {canManage && (
        <ActionForm
          label="Create an embed key"
          submit="Create embed key"
          run={() =>
            api('POST', org(`agents/${agentId}/embed-keys`), {
              name: name.trim() || undefined,
              allowedOrigins: origins.split(/[\s,]+/).filter(Boolean),
            })
          }
          done={() => {
            setName('');
            setOrigins('');
            reload();
          }}
        >
          <Field label="Key name">
            <TextInput value={name} onValue={setName} />
          </Field>
          <Field label="Allowed origins" hint="Space or comma separated, e.g. https://shop.example.com">
            <TextInput required value={origins} onValue={setOrigins} />
          </Field>
        </ActionForm>
      )}
    </Section>
  );
}

function Settings({ agent, canManage, changed }: { agent: Agent; canManage: boolean; changed: () => void }) {
  const [draft, setDraft] = useState({ name: '', description: '', instructions: '', welcomeMessage: '' });
  const action = useAction();
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    setDraft({
      name: agent.name,
      description: agent.description ?? '',
      instructions: agent.instructions,
      welcomeMessage: agent.welcomeMessage ?? '',
    });
    setSaved(false);
  }, [agent]);
  const set = (field: keyof typeof draft) => (event: Event) => {
    setSaved(false);
    setDraft({ ...draft, [field]: (event.currentTarget as HTMLInputElement).value });
  };
  return (
    <Section title="Settings">
      <form
        onSubmit={async (event) => {
          event.preventDefault();
          const ok = await action.run(() =>
            api('PATCH', org(`agents/${agent.id}`), {
              name: draft.name,
              description: draft.description || null,
              instructions: draft.instructions,
              welcomeMessage: draft.welcomeMessage || null,
            }),
          );
          if (ok) {
            setSaved(true);
            changed();
          }
        }}
      >
        <p class="hint">
          Model <code>{agent.model}</code> · id <code>{agent.id}</code>
        </p>
        <div class="grid-2">
          <Field label="Name">
            <input required disabled={!canManage} value={draft.name} onInput={set('name')} />
          </Field>
          <Field label="Description">
            <input disabled={!canManage} value={draft.description} onInput={set('description')} />
          </Field>
        </div>
        <Field label="Instructions (system prompt)">
          <textarea rows={4} disabled={!canManage} value={draft.instructions} onInput={set('instructions')} />
        </Field>
        <Field label="Welcome message">
          <input disabled={!canManage} value={draft.welcomeMessage} onInput={set('welcomeMessage')} />
        </Field>
        <SaveFooter submit="Save settings" canManage={canManage} action={action} saved={saved} />
      </form>
    </Section>
  );
}

export function AgentsPage({ canManage }: { canManage: boolean }) {
  const [agents, reload] = useLoad(listAgents, []);
  const [agentId, setAgentId] = useState('');
  return (
    <Loaded load={agents}>
      {(page) => {
        if (page.data.length === 0)
          return <Empty>No agents yet: create one with the API (POST /agents).</Empty>;
        const agent = page.data.find((entry) => entry.id === agentId) ?? page.data[0]!;
        return (
          <div class="stack">
            <AgentPicker agents={page.data} value={agent.id} onChange={setAgentId} />
            <Domains agentId={agent.id} canManage={canManage} />
            <EmbedKeys agentId={agent.id} canManage={canManage} />
            <Settings agent={agent} canManage={canManage} changed={reload} />
          </div>
        );
      }}
    </Loaded>
  );
}
