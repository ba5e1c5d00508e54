import { type Command, InvalidArgumentError } from 'commander';
import { type Answer, type ApiClient, answerOf, createApiClient, unwrap } from './client.ts';
import { readStoredConfig, resolveSettings, type Settings, type StoredConfig } from './config.ts';
import { UsageError } from './errors.ts';
import { json, type Output, processOutput, record } from './output.ts';

export interface GlobalOptions {
  org?: string;
  json?: boolean;
  apiUrl?: string;
}

/** Everything an action needs: settings, a typed API client, where to write. */
export interface Context {
  settings: Settings;
  stored: StoredConfig;
  api: ApiClient;
  output: Output;
  /** Awaits an API call: its data, or an ApiRefusal (exit 1). */
  call<T>(pending: Promise<Answer<T>>): Promise<T>;
  /** Like `call`, with the response (for its headers). */
  answer<T>(pending: Promise<Answer<T>>): Promise<Answer<T>>;
  /** The organization to act on (`--org`, MCPSTACK_ORG_ID, the logged-in key's); a usage error without one. */
  organizationId(): string;
  /** Prints the API's JSON with --json, else the readable form. */
  show(value: unknown, readable?: () => string): void;
}

export async function contextOf(command: Command, options: { needsKey?: boolean } = {}): Promise<Context> {
  const globals = command.optsWithGlobals<GlobalOptions>();
  const stored = await readStoredConfig();
  const settings = resolveSettings(globals, stored);
  if ((options.needsKey ?? true) && settings.apiKey === undefined) {
    throw new UsageError(
      'Not logged in: run `mcpstack auth service-account login --key <key>` or set MCPSTACK_API_KEY',
    );
  }
  const output = processOutput(globals.json ?? false);
  return {
    settings,
    stored,
    api: createApiClient(settings.apiUrl, settings.apiKey),
    output,
    call: (pending) => unwrap(settings.apiUrl, pending),
    answer: (pending) => answerOf(settings.apiUrl, pending),
    organizationId() {
      if (settings.organizationId === undefined) {
        throw new UsageError('No organization: pass --org <orgId> or set MCPSTACK_ORG_ID');
      }
      return settings.organizationId;
    },
    show(value, readable) {
      if (output.json) output.write(json(value));
      else output.write(readable ? readable() : record((value ?? {}) as Record<string, unknown>));
    },
  };
}

/** `--monthly-usd 25` → 25; `none` → null (no cap). */
export function usdOrNone(value: string): number | null {
  if (value === 'none' || value === 'null') return null;
  return usd(value);
}

export function usd(value: string): number {
  const amount = Number(value);
  if (value.trim() === '' || !Number.isFinite(amount) || amount < 0) {
    throw new InvalidArgumentError('must be an amount of USD like 25 or 12.50');
  }
  return amount;
}

export function positiveInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new InvalidArgumentError('must be a whole number ≥ 1');
  return number;
}

/** Repeated options collect into a list: `--origin a --origin b`. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n`;
}

/** Adds `--limit` and `--cursor`, the API's paging, to a list command. */
export function paged(command: Command): Command {
  return command
    .option('--limit <n>', 'items per page, 1-500 (default 50)', positiveInteger)
    .option('--cursor <cursor>', 'the nextCursor of the previous page');
}

export function pageQuery(options: { limit?: number; cursor?: string }): { limit?: number; cursor?: string } {
  return {
    ...(options.limit !== undefined && { limit: options.limit }),
    ...(options.cursor !== undefined && { cursor: options.cursor }),
  };
}

/** A note under a table when there is a next page. */
export function nextPageNote(context: Context, nextCursor: string | null | undefined): void {
  if (nextCursor && !context.output.json) context.output.note(`More: --cursor ${nextCursor}\n`);
}
