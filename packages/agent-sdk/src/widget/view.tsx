// biome-ignore lint/correctness/noUnusedImports: JSX compiles to h() calls (the classic runtime, see vite.config.ts)
import { Component, h, type RefObject, type VNode } from 'preact';
import type { AgentConfig, ChatState, VisitorBudget } from '../client/client.ts';
import { type ChatError, day, friendlyMessage } from '../client/errors.ts';
import { type ChatMessage, type ToolCallPart, toolDisplayName } from '../client/messages.ts';
import { renderMarkdown } from './markdown.ts';

/** Everything the panel shows; the panel renders it again after every change. */
export interface ViewProps {
  state: ChatState;
  config: AgentConfig | null;
  /** The config could not be loaded (a bad key, a refused origin, no network). */
  configError: ChatError | null;
  inline: boolean;
  /** The polite status region's text: an answer began, or the answer that finished. */
  announcement: string;
  actions: {
    close(): void;
    submit(): void;
    send(text: string): void;
    stop(): void;
    retry(): void;
    newConversation(): void;
    keydown(event: KeyboardEvent): void;
    input(event: Event): void;
  };
  refs: {
    input: RefObject<HTMLTextAreaElement | null>;
    log: RefObject<HTMLDivElement | null>;
  };
}

const icon = (path: string) => (
  <svg viewBox="0 0 24 24" aria-hidden="true">
    <path d={path} />
  </svg>
);
const closeIcon = 'M6 6l12 12M18 6 6 18';
const sendIcon = 'M12 19V5M6 11l6-6 6 6';
const newIcon = 'M12 5v14M5 12h14';
const stopIcon = 'M8 8h8v8H8z';

/** Rendered Markdown of one text, redone only when the text changes (old messages stay as they are). */
class Markdown extends Component<{ text: string }> {
  override shouldComponentUpdate(next: { text: string }) {
    return next.text !== this.props.text;
  }
  override render() {
    return renderMarkdown(this.props.text);
  }
}

function ToolCall({ part }: { part: ToolCallPart }) {
  const name = toolDisplayName(part);
  const running = part.state === 'input-streaming' || part.state === 'input-available';
  const failed = part.state === 'output-error';
  return (
    <div
      class={failed ? 'tool failed' : 'tool'}
      data-tool={part.toolName}
      data-state={running ? 'running' : failed ? 'failed' : 'done'}
    >
      {running ? <span class="spin" aria-hidden="true" /> : icon(failed ? closeIcon : 'M5 12l5 5 9-10')}
      <span>{running ? `${name}…` : failed ? `${name} failed` : name}</span>
    </div>
  );
}

function Message({ message }: { message: ChatMessage }) {
  if (message.role === 'user') {
    return <div class="msg user">{message.parts.map((part) => (part.type === 'text' ? part.text : ''))}</div>;
  }
  return (
    <div class="msg assistant">
      {message.parts.map((part, index) =>
        part.type === 'text' ? (
          // biome-ignore lint/suspicious/noArrayIndexKey: a message's parts only ever grow at the end (never reorder), and text parts have no id
          <Markdown key={index} text={part.text} />
        ) : (
          <ToolCall key={part.toolCallId} part={part} />
        ),
      )}
    </div>
  );
}

function Alert({ error, props }: { error: ChatError; props: ViewProps }) {
  const { actions, state } = props;
  // A network error while still `submitted`: the client waits to send again.
  const waiting = state.status === 'submitted';
  const text = waiting ? 'You seem to be offline. Trying again…' : friendlyMessage(error);
  return (
    <div class="alert" role="alert" data-code={error.code}>
      {text}
      {!waiting && error.retryable && (
        <button type="button" onClick={actions.retry}>
          Try again
        </button>
      )}
      {error.code === 'conversation_too_long' && (
        <button type="button" onClick={actions.newConversation}>
          New conversation
        </button>
      )}
    </div>
  );
}

/**
 * The visitor's budget meter, quiet near the input: what is left (a guest sees only the share), a
 * warning once a threshold of the agent is passed, and the reset date once it is spent.
 */
function Meter({ budget, spent }: { budget: VisitorBudget; spent: boolean }) {
  const used = 100 - budget.remainingPercent;
  const over = spent || budget.remainingPercent <= 0;
  const warning = budget.warnAtPercent.filter((at) => used >= at).pop();
  const usd = (value: number | null) => `$${(value ?? 0).toFixed(2)}`;
  const text = over
    ? `Monthly limit reached. It resets on ${day(budget.resetsAt)}.`
    : `${budget.limitUsd === null ? `${Math.floor(budget.remainingPercent)}%` : `${usd(budget.remainingUsd)} of ${usd(budget.limitUsd)}`} left this month${warning ? ` (${Math.floor(used)}% used)` : ''}`;
  return (
    <div class="meter" data-state={over ? 'spent' : warning ? 'warning' : 'ok'} role="status">
      <meter min={0} max={100} value={over ? 100 : used} high={budget.warnAtPercent[0] ?? 80} optimum={0} />
      <span>{text}</span>
    </div>
  );
}

/** The panel: header, transcript, alerts, the message form, and the screen readers' status region. */
export function View(props: ViewProps): VNode {
  const { state, config, configError, inline, actions, refs } = props;
  const name = config?.name ?? 'Assistant';
  const busy = state.status === 'submitted' || state.status === 'streaming';
  const blocked = configError !== null && !configError.retryable;
  const error = configError ?? state.error;
  const last = state.messages.at(-1);
  return (
    <section
      id="mcpstack-panel"
      class="panel"
      role={inline ? 'region' : 'dialog'}
      aria-label={`Chat with ${name}`}
      onKeyDown={actions.keydown}
    >
      <header>
        <h2>{name}</h2>
        {state.messages.length > 0 && (
          <button type="button" class="icon" aria-label="New conversation" onClick={actions.newConversation}>
            {icon(newIcon)}
          </button>
        )}
        {!inline && (
          <button type="button" class="icon" aria-label="Close chat" onClick={actions.close}>
            {icon(closeIcon)}
          </button>
        )}
      </header>
      {/* A log, but a silent one: the status region below says once that an answer began and
            reads it once it finished, where a live log would read every token. */}
      <div
        class="log"
        role="log"
        aria-live="off"
        aria-label="Conversation"
        ref={refs.log}
        tabIndex={-1}
        aria-busy={busy || state.restoring}
      >
        {config?.welcomeMessage && (
          <div class="msg assistant">
            <Markdown text={config.welcomeMessage} />
          </div>
        )}
        {state.messages.map((message) => (
          <Message key={message.id} message={message} />
        ))}
        {state.messages.length === 0 && !state.restoring && config && config.starterPrompts.length > 0 && (
          <div class="prompts">
            {config.starterPrompts.map((prompt) => (
              <button key={prompt} type="button" onClick={() => actions.send(prompt)} disabled={blocked}>
                {prompt}
              </button>
            ))}
          </div>
        )}
        {state.status === 'submitted' && last?.role === 'user' && (
          <div class="msg" role="img" aria-label={`${name} is typing`}>
            <span class="spin" />
          </div>
        )}
      </div>
      {state.notice && (
        <div class="alert notice" role="status" data-code={state.notice.code}>
          {friendlyMessage(state.notice)}
        </div>
      )}
      {error && <Alert error={error} props={props} />}
      {config?.showUsageToUsers && state.budget && (
        <Meter budget={state.budget} spent={error?.code === 'budget_exceeded' && error.scope !== 'credits'} />
      )}
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (busy) actions.stop();
          else actions.submit();
        }}
      >
        <textarea
          ref={refs.input}
          rows={1}
          aria-label={`Message ${name}`}
          placeholder="Write a message…"
          maxLength={config?.limits.maxMessageChars}
          disabled={blocked}
          onInput={actions.input}
        />
        <button
          type="submit"
          class="send"
          aria-label={busy ? 'Stop the answer' : 'Send message'}
          disabled={blocked}
        >
          {icon(busy ? stopIcon : sendIcon)}
        </button>
      </form>
      <div class="sr" role="status" aria-live="polite">
        {props.announcement}
      </div>
    </section>
  );
}
