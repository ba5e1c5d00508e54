import { type ComponentChildren, cloneElement, Fragment, type VNode } from 'preact';
import { useCallback, useEffect, useId, useRef, useState } from 'preact/hooks';
import { ApiFailure } from './api.ts';

export type Load<T> =
  | { state: 'loading' }
  | { state: 'error'; error: ApiFailure }
  | { state: 'ready'; data: T };

/** Loads `load()` when `keys` change; `reload()` runs it again. A stale answer never wins. */
export function useLoad<T>(load: () => Promise<T>, keys: unknown[]): [Load<T>, () => void] {
  const [result, setResult] = useState<Load<T>>({ state: 'loading' });
  const generation = useRef(0);
  const run = useCallback(() => {
    const mine = ++generation.current;
    setResult({ state: 'loading' });
    load().then(
      (data) => mine === generation.current && setResult({ state: 'ready', data }),
      (error: unknown) =>
        mine === generation.current && setResult({ state: 'error', error: ApiFailure.from(error) }),
    );
  }, keys);
  useEffect(run, [run]);
  return [result, run];
}

/** An action (a button press): its pending flag and its last error, shown next to it. */
export interface Action {
  pending: boolean;
  error: ApiFailure | null;
  /** Runs `action`: `true` when it succeeded, else `false` with `error` set. */
  run: (action: () => Promise<unknown>) => Promise<boolean>;
}

export function useAction(): Action {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<ApiFailure | null>(null);
  const run = async (action: () => Promise<unknown>) => {
    setPending(true);
    setError(null);
    try {
      await action();
      return true;
    } catch (failure) {
      setError(ApiFailure.from(failure));
      return false;
    } finally {
      setPending(false);
    }
  };
  return { pending, error, run };
}

export function Loading({ label = 'Loading' }: { label?: string }) {
  return (
    <p class="loading" role="status" aria-live="polite">
      {label}…
    </p>
  );
}

export function ErrorNotice({ error }: { error: ApiFailure | null }) {
  if (!error) return null;
  return (
    <div class="error" role="alert">
      <code>{error.code}</code> {error.message}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

/** Renders the three states of a load: loading, error (with the API's code), or the data. */
export function Loaded<T>({ load, children }: { load: Load<T>; children: (data: T) => ComponentChildren }) {
  if (load.state === 'loading') return <Loading />;
  if (load.state === 'error') return <ErrorNotice error={load.error} />;
  return <Fragment>{children(load.data)}</Fragment>;
}

export function Section({
  title,
  children,
  actions,
}: {
  title: string;
  children: ComponentChildren;
  actions?: ComponentChildren;
}) {
  const id = `section-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return (
    <section class="card" aria-labelledby={id}>
      <div class="card-head">
        <h2 id={id}>{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  );
}

/** Copies text; says so for screen readers too. */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      class="secondary"
      aria-label={label}
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
          setCopied(true);
          setTimeout(() => setCopied(false), 2000);
        } catch {
          setCopied(false);
        }
      }}
    >
      {copied ? 'Copied' : 'Copy'}
      <span class="visually-hidden" aria-live="polite">
        {copied ? ' copied to the clipboard' : ''}
      </span>
    </button>
  );
}

/**
 * A labelled control. The label points at the control by id (`for`) rather than wrapping it, so
 * the control's accessible name is the label alone (a wrapped select would add its option text).
 */
export function Field({ label, children, hint }: { label: string; children: VNode; hint?: string }) {
  const id = useId();
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {cloneElement(children, { id, 'aria-describedby': hint ? `${id}-hint` : undefined })}
      {hint && <small id={`${id}-hint`}>{hint}</small>}
    </div>
  );
}

/** A select of agents, shared by every page that works on one agent. */
export function AgentPicker({
  agents,
  value,
  onChange,
}: {
  agents: { id: string; name: string }[];
  value: string;
  onChange: (id: string) => void;
}) {
  return (
    <Field label="Agent">
      <select value={value} onChange={(event) => onChange((event.currentTarget as HTMLSelectElement).value)}>
        {agents.map((agent) => (
          <option key={agent.id} value={agent.id}>
            {agent.name}
          </option>
        ))}
      </select>
    </Field>
  );
}

export function numberOrNull(text: string): number | null {
  return text.trim() === '' ? null : Number(text);
}
