import { useState } from 'preact/hooks';
import { api, org, query } from '../api.ts';
import {
  CopyButton,
  Empty,
  ErrorNotice,
  Field,
  Loaded,
  Section,
  useAction,
  useLoad,
} from '../components.tsx';
import type { Page } from '../data.ts';
import { dateTime } from '../format.ts';
import { ActionForm, TextInput } from '../forms.tsx';
import { Table } from '../table.tsx';

interface ApiKey {
  id: string;
  name: string;
  clientId: string;
  role: string;
  roleName: string;
  createdAt: string;
  expiresAt: string | null;
  /** Added by the API when it tracks key use; shown when present. */
  lastUsedAt?: string | null;
}

const roles = ['viewer', 'billing', 'developer', 'admin'] as const;

export function ApiKeysPage() {
  const [load, reload] = useLoad(() => api<Page<ApiKey>>('GET', org(`api-keys${query({ limit: 500 })}`)), []);
  const [name, setName] = useState('');
  const [role, setRole] = useState<string>('viewer');
  const [created, setCreated] = useState<{ name: string; fullKey: string } | null>(null);
  const revoke = useAction();
  return (
    <div class="stack">
      <Section title="Create a key">
        <ActionForm
          submit="Create key"
          run={async () => {
            const key = await api<ApiKey & { fullKey: string }>('POST', org('api-keys'), {
              name: name.trim(),
              role,
            });
            setCreated({ name: key.name, fullKey: key.fullKey });
            setName('');
            reload();
          }}
        >
          <Field label="Key name">
            <TextInput required value={name} onValue={setName} />
          </Field>
          <Field label="Role">
            <select
              value={role}
              onChange={(event) => setRole((event.currentTarget as HTMLSelectElement).value)}
            >
              {roles.map((entry) => (
                <option key={entry} value={entry}>
                  {entry}
                </option>
              ))}
            </select>
          </Field>
        </ActionForm>
        {created && (
          <div class="secret" role="status">
            <p>
              <strong>{created.name}</strong>: copy this key now. It is shown this once and never again.
            </p>
            <div class="row">
              <code class="mono" data-secret>
                {created.fullKey}
              </code>
              <CopyButton text={created.fullKey} label="Copy the new key" />
              <button type="button" class="secondary" onClick={() => setCreated(null)}>
                Done
              </button>
            </div>
          </div>
        )}
      </Section>
      <Section title="Keys">
        <ErrorNotice error={revoke.error} />
        <Loaded load={load}>
          {(page) => {
            if (page.data.length === 0) return <Empty>No keys.</Empty>;
            const tracksUse = page.data.some((key) => 'lastUsedAt' in key);
            return (
              <Table
                columns={['Name', 'Key', 'Role', 'Created', tracksUse && 'Last used', 'Expires', 'Actions']}
              >
                {page.data.map((key) => (
                  <tr key={key.id}>
                    <th scope="row">{key.name}</th>
                    <td class="mono">{key.clientId}…</td>
                    <td>{key.roleName}</td>
                    <td>{dateTime(key.createdAt)}</td>
                    {tracksUse && <td>{key.lastUsedAt ? dateTime(key.lastUsedAt) : 'never'}</td>}
                    <td>{key.expiresAt ? dateTime(key.expiresAt) : 'never'}</td>
                    <td>
                      <button
                        type="button"
                        class="danger"
                        aria-label={`Revoke ${key.name}`}
                        disabled={revoke.pending}
                        onClick={async () =>
                          confirm(`Revoke ${key.name}? It stops working at once.`) &&
                          (await revoke.run(() => api('DELETE', org(`api-keys/${key.id}`)))) &&
                          reload()
                        }
                      >
                        Revoke
                      </button>
                    </td>
                  </tr>
                ))}
              </Table>
            );
          }}
        </Loaded>
      </Section>
    </div>
  );
}
