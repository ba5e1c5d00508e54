import { type ComponentChildren, Fragment, type InputHTMLAttributes } from 'preact';
import { type Action, ErrorNotice, useAction } from './components.tsx';

/** `InputHTMLAttributes` is a union (one member per `type`): omit from each member. */
type WithoutInput<Props> = Props extends unknown ? Omit<Props, 'onInput'> : never;

/** An `<input>` whose value the page keeps: `onValue` gets the text as it is typed. */
export function TextInput({
  onValue,
  ...props
}: WithoutInput<InputHTMLAttributes<HTMLInputElement>> & { onValue: (value: string) => void }) {
  return <input {...props} onInput={(event) => onValue(event.currentTarget.value)} />;
}

/**
 * A form that does one thing when submitted: its fields, a submit button that is disabled (and
 * says `pending`, if given) while `run` runs, and the error `run` ended with; `done` once it succeeded.
 */
export function ActionForm({
  label,
  submit,
  pending,
  run,
  done,
  children,
}: {
  /** The form's accessible name, where a page has more than one form. */
  label?: string;
  submit: string;
  pending?: string;
  run: () => Promise<unknown>;
  done?: () => void;
  children: ComponentChildren;
}) {
  const action = useAction();
  return (
    <form
      class="inline-form"
      aria-label={label}
      onSubmit={async (event) => {
        event.preventDefault();
        if (await action.run(run)) done?.();
      }}
    >
      {children}
      <button type="submit" disabled={action.pending}>
        {action.pending && pending ? pending : submit}
      </button>
      <ErrorNotice error={action.error} />
    </form>
  );
}

/**
 * The end of a settings form: its save button (for those who may change the settings), "Saved."
 * once they are, and the error of the last save.
 */
export function SaveFooter({
  submit,
  canManage,
  action,
  saved,
}: {
  submit: string;
  canManage: boolean;
  action: Action;
  saved: boolean;
}) {
  return (
    <Fragment>
      {canManage && (
        <button type="submit" disabled={action.pending}>
          {submit}
        </button>
      )}
      {saved && (
        <span role="status" class="tone-ok">
          {' '}
          Saved.
        </span>
      )}
      <ErrorNotice error={action.error} />
    </Fragment>
  );
}
