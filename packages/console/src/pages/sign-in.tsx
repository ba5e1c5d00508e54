import { useState } from 'preact/hooks';
import { type ApiFailure, type Session, signIn } from '../api.ts';
import { ErrorNotice, Field, useAction } from '../components.tsx';
import { TextInput } from '../forms.tsx';

export function SignInPage({
  error,
  onSignedIn,
}: {
  error: ApiFailure | null;
  onSignedIn: (session: Session) => void;
}) {
  const [key, setKey] = useState('');
  const action = useAction();
  return (
    <main id="main" class="sign-in">
      <h1>Sign in to the MCP Stack console</h1>
      <p>
        Paste a service-account key (<code>mcpstack_sk_…</code>). It is exchanged once for a session cookie
        and never kept in this browser.
      </p>
      <form
        onSubmit={async (event) => {
          event.preventDefault();
          let session: Session | undefined;
          if (await action.run(async () => (session = await signIn(key.trim())))) {
            setKey('');
            onSignedIn(session!);
          }
        }}
      >
        <Field label="Service-account key">
          <TextInput
            type="password"
            name="key"
            autoComplete="off"
            spellcheck={false}
            required
            value={key}
            onValue={setKey}
          />
        </Field>
        <button type="submit" disabled={action.pending}>
          {action.pending ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <ErrorNotice error={action.error ?? error} />
    </main>
  );
}
