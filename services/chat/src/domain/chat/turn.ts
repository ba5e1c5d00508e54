import type {
  LanguageModelV4Message,
  LanguageModelV4StreamPart,
  LanguageModelV4Usage,
} from '@ai-sdk/provider';
import { APICallError, type FinishReason } from 'ai';
import type { Deps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { type AgentRecord, agentRecord } from '../../storage/records.ts';
import type { AdmissionGate } from '../../storage/scripts/chat-admit.ts';
import { parseInput } from '../../validate.ts';
import { acquireStream, admitAnonymous, limitChat, type StreamLease } from '../abuse/rate-limit.ts';
import { AnswerMeter } from '../budgets/answer-meter.ts';
import { type BudgetSettings, readBudgetSettings } from '../budgets/settings.ts';
import { visitorBudget } from '../budgets/visitor-budget.ts';
import { lowBalanceHeaders } from '../credits/summary.ts';
import { confirmEmbedKey, keyAdmission } from '../embed-key-admission.ts';
import type { EmbedKeyLookup } from '../embed-keys.ts';
import { buildLlmCall, costMicros, type LlmCallRecord } from '../history/llm-calls.ts';
import { verifyUserToken } from '../identity/verify-token.ts';
import { listEnabledTools } from '../mcp/enabled-tools.ts';
import type { CatalogModel } from '../model-catalog.ts';
import type { Owner } from '../owner.ts';
import { type ChatRequest, chatRequest, textPart, visitorIdSchema } from './chat-request.ts';
import { type Appended, appendMessages, type StoredMessage } from './conversations.ts';
import type { AgentSighting } from './hold-forecast.ts';
import type { LiveAnswer, LiveMarker } from './live-answers.ts';
import {
  type ModelCall,
  ModelCallError,
  type ModelClient,
  type ModelTool,
  type PreparedCall,
} from './model/model-client.ts';
import { promptOf } from './prompt.ts';
import { type AgentTools, agentTools, callTool, type ToolOutcome } from './tools.ts';
import { type StreamSink, UiMessageStream } from './ui-stream.ts';

/** The stages of a turn before its answer streams, as `Server-Timing` and a histogram show them. */
export type TurnStage = 'limits' | 'history' | 'reserve' | 'model';

/** How long each stage took (milliseconds), in the order they ran. */
export class StageTimings {
  readonly stages: { stage: TurnStage; ms: number }[] = [];
  #last = performance.now();

  /** Ends the stage that ran since the last mark. */
  mark(stage: TurnStage): void {
    const now = performance.now();
    this.stages.push({ stage, ms: now - this.#last });
    this.#last = now;
  }
}

/** What the HTTP layer knows of a chat request once its key and origin were read (admission confirms them). */
export interface TurnRequest {
  key: EmbedKeyLookup;
  /** The request's origin, one of the key's allowed origins. */
  origin: string;
  clientIp: string;
  /** The JSON body, not yet validated (the limits apply to malformed floods too). */
  body: unknown;
}

/** A turn that passed every check and holds the budget of its first model call. */
export interface Turn {
  /** Headers for the answer: `x-mcpstack-credits-low`, `x-mcpstack-user-token-problem`. */
  headers: Record<string, string>;
  timings: StageTimings;
  /**
   * Streams the answer into the sink, then stores it and gives back what the turn held. `signal`
   * aborts when the visitor goes away; the turn then stops its model and tool calls.
   */
  stream(sink: TurnSink, signal: AbortSignal): Promise<void>;
}

/** The answer's sink, told when the model answered (so the response's headers can carry its time). */
export interface TurnSink extends StreamSink {
  begin(): void;
}

export const userTokenProblemHeader = 'x-mcpstack-user-token-problem';

const messageIdPattern = /^[A-Za-z0-9_-]{1,100}$/;

async function loadAgent(deps: Deps, organizationId: string, agentId: string): Promise<AgentRecord> {
  const agent = await deps.stores.agents.get(organizationId, agentId);
  if (!agent) throw new ApiError('agent_not_found', 'The agent of this embed key no longer exists');
  return agent;
}

/** The agent of an embed key, after the chat API's limits (for the config and history reads too). */
export async function admitChatRequest(
  deps: Deps,
  { key, origin }: { key: EmbedKeyLookup; origin: string },
  clientIp: string,
  visitorId?: string,
): Promise<AgentRecord> {
  // One round trip (auto-pipelined): the key must be live and the origin verified before the agent counts.
  const [confirmed, found] = await Promise.allSettled([
    confirmEmbedKey(deps, key, origin),
    loadAgent(deps, key.organizationId, key.agentId),
  ]);
  if (confirmed.status === 'rejected') throw confirmed.reason;
  if (found.status === 'rejected') throw found.reason;
  const agent = found.value;
  await limitChat(
    deps,
    { organizationId: key.organizationId, embedKeyId: key.id, clientIp, visitorId },
    agent,
  );
  return agent;
}

/**
 * The conversation owner: the user a valid token names, else the anonymous visitor. A refused
 * token never stops the chat (the visitor continues anonymously) but is reported in a header.
 */
export async function resolveOwner(
  deps: Deps,
  key: EmbedKeyLookup,
  visitorId: string,
  userToken: string | undefined,
  headers: Record<string, string>,
): Promise<Owner> {
  if (!userToken) return { kind: 'visitor', id: visitorId };
  const verified = await verifyUserToken(deps, key.organizationId, key.agentId, userToken);
  if (verified.ok) return verified.user;
  headers[userTokenProblemHeader] = verified.problem;
  return { kind: 'visitor', id: visitorId };
}

/** The new user message, checked: text parts only, within the size limit. */
function newUserMessage(deps: Deps, body: ChatRequest): StoredMessage {
  const last = body.messages.at(-1);
  if (last?.role !== 'user') {
    throw new ApiError('validation_failed', 'body.messages: the last message must be the new user message');
  }
  const parts = parseInput(textPart.array().min(1, 'must hold text'), last.parts, 'body');
  const text = parts.map((part) => part.text).join('');
  if (text.trim() === '') throw new ApiError('validation_failed', 'body.messages: the message is empty');
  const max = deps.env.MCPSTACK_CHAT_MAX_MESSAGE_CHARS;
  if (text.length > max) {
    throw new ApiError('message_too_long', `The message is ${text.length} characters; the limit is ${max}.`, {
      maxChars: max,
    });
  }
  return {
    id: last.id && messageIdPattern.test(last.id) ? last.id : crypto.randomUUID(),
    role: 'user',
    parts: parts.map((part) => ({ type: 'text', text: part.text })),
    metadata: { createdAt: deps.clock.now().toISOString() },
  };
}

/** What the visitor may read about a failure: specific where it helps, never internals. */
export function visitorErrorText(deps: Pick<Deps, 'logger'>, error: unknown): string {
  if (error instanceof ApiError) return error.message;
  const status =
    error instanceof ModelCallError
      ? error.statusCode
      : APICallError.isInstance(error)
        ? (error.statusCode ?? null)
        : undefined;
  if (status !== undefined) {
    return `The assistant's model is unavailable right now (status ${status ?? 'unknown'}). Please try again.`;
  }
  deps.logger.warn({ reason: describeError(error) }, 'chat stream error');
  return 'Something went wrong while answering. Please try again.';
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error);
  } catch {
    return String(error);
  }
}

/** The most output tokens a call of this agent may ask for. */
const outputCap = (agent: AgentRecord, model: CatalogModel) =>
  Math.min(agent.maxOutputTokens, model.maxOutputTokens);

/** The model call of a turn's history, with the agent's instructions, sampling and output cap. */
function modelCall(
  agent: AgentRecord,
  model: CatalogModel,
  history: StoredMessage[],
  tools: readonly ModelTool[],
): ModelCall {
  return {
    prompt: promptOf(agent.instructions, history),
    tools,
    maxOutputTokens: outputCap(agent, model),
    temperature: agent.temperature ?? undefined,
  };
}

interface TurnConversation {
  organizationId: string;
  agentId: string;
  conversationId: string;
  owner: Owner;
}

/** What a turn writes and reads before its first model call, sent together in one round trip. */
interface TurnReads {
  /** The history after the append; null when it was sent behind an admission that did not let the turn in. */
  appended: Appended | null;
  servers: Awaited<ReturnType<typeof listEnabledTools>>;
  budget: BudgetSettings;
  creditHeaders: Record<string, string>;
}

/** The new user message when it is valid; null when not (the turn reports why after its limits). */
function validMessage(deps: Deps, body: ChatRequest): StoredMessage | null {
  try {
    return newUserMessage(deps, body);
  } catch {
    return null;
  }
}

const sameServers = (seen: readonly string[], now: readonly string[]) =>
  seen.length === now.length && seen.every((id, index) => id === now[index]);

interface TurnWrite {
  userMessage: StoredMessage | null;
  regenerate: boolean;
  marker: LiveMarker;
  /** Sent behind the turn's admission: the append is done only when the admission let the turn in. */
  admission?: AdmissionGate;
}

/** The append of a turn's new message (or, to regenerate, of nothing after dropping the last answer). */
const turnAppend = (conversation: TurnConversation, write: TurnWrite) => ({
  ...conversation,
  messages: write.userMessage ? [write.userMessage] : [],
  create: !write.regenerate,
  history: true,
  dropTrailingAssistant: write.regenerate,
  reserve: 1,
  liveMarker: write.marker,
});

/** The history append (with its live marker) and the reads the answer needs; every command goes out before this returns. */
function sendTurnReads(
  deps: Deps,
  conversation: TurnConversation,
  mcpServerIds: readonly string[],
  write: TurnWrite,
): Promise<TurnReads> {
  return Promise.all([
    appendMessages(deps, { ...turnAppend(conversation, write), admission: write.admission }),
    listEnabledTools(deps, conversation.organizationId, mcpServerIds),
    readBudgetSettings(deps, conversation.organizationId, conversation.agentId),
    lowBalanceHeaders(deps, conversation.organizationId),
  ]).then(([appended, servers, budget, creditHeaders]) => ({ appended, servers, budget, creditHeaders }));
}

/** The first call's hold, taken from a forecast before the turn's reads came back. */
interface HoldAhead {
  meter: AnswerMeter;
  /** Whether it holds (false: refused, stale, or its admission did not let the turn in). */
  held: Promise<boolean>;
}

/**
 * Holds a forecast of the first call's bound, in the round trip of the turn's reads (and behind its
 * admission, when given), from what this process last saw of the agent (`seen`; its record is the
 * current one once admission has read it): a new conversation's first request is exact (with the
 * agent and tools last seen); one this process answered before stands at
 * its last request and answer, plus the new message twice over. Null when the process has not seen
 * enough: the hold then waits for the reads. Never trusted: the turn keeps it only when its model
 * and reset day are the agent's, and when it covers the exact bound (`AnswerMeter.hold`).
 */
function holdAhead(
  deps: Deps,
  conversation: TurnConversation,
  seen: AgentSighting | undefined,
  body: ChatRequest,
  userMessage: StoredMessage | null,
  admission?: AdmissionGate,
): HoldAhead | null {
  if (!seen || !userMessage) return null;
  const model = deps.modelCatalog.get(seen.agent.model);
  if (!model) return null;
  const before = deps.holdForecast.conversationBytes(conversation.organizationId, body.id);
  let sentBytes: number;
  if (before !== undefined) sentBytes = before + 2 * Buffer.byteLength(JSON.stringify(userMessage), 'utf8');
  else if (body.messages.length === 1)
    sentBytes = deps.models
      .client(model.id)
      .prepare(modelCall(seen.agent, model, [userMessage], seen.tools)).sentBytes;
  else return null;
  const meter = new AnswerMeter(deps, {
    ...conversation,
    model,
    resetDayOfMonthUtc: seen.resetDayOfMonthUtc,
  });
  return { meter, held: meter.holdAhead(sentBytes, outputCap(seen.agent, model), admission) };
}

/** Gives back a hold taken ahead that the turn will not use (a no-op when it holds nothing). */
const dropAhead = (ahead: HoldAhead | null) =>
  ahead?.held.then(() => ahead.meter.release()).catch(() => undefined);

/**
 * Opens a chat turn: the agent, the abuse limits, the request, its owner, a stream lease, the
 * history with the new message, the tools, and the budget hold of the first model call, so that a
 * spent budget is a plain 402 before any stream starts. Every refusal is an `ApiError` thrown here.
 *
 * An anonymous visitor's turn in a process that has seen its agent makes one Redis round trip before
 * its model call: the admission script, then the history append and the first hold (each gated on
 * the admission: lib/admission-gate.lua) and the reads, in one write. Otherwise: the admission (and,
 * for a signed-in user, the token), then the append, reads and hold.
 */
export async function startTurn(deps: Deps, request: TurnRequest): Promise<Turn> {
  const { key } = request;
  const timings = new StageTimings();
  const claimed = (request.body as { visitorId?: unknown } | null)?.visitorId;
  const visitor = visitorIdSchema.safeParse(claimed).success ? (claimed as string) : undefined;
  const caller = {
    organizationId: key.organizationId,
    embedKeyId: key.id,
    clientIp: request.clientIp,
    visitorId: visitor,
  };
  const parsed = chatRequest.safeParse(request.body);
  const headers: Record<string, string> = {};
  const marker = deps.liveAnswers.marker();
  const sighting = deps.holdForecast.agent(key.organizationId, key.agentId);
  let agent: AgentRecord;
  let body: ChatRequest;
  let owner: Owner;
  let lease: StreamLease;
  /** The append, reads and first hold sent behind the admission. */
  let early: {
    reads: Promise<TurnReads>;
    ahead: HoldAhead | null;
    userMessage: StoredMessage | null;
  } | null = null;
  if (parsed.success && !parsed.data.userToken) {
    // An anonymous visitor: the agent, the limits and the stream lease in one script.
    body = parsed.data;
    owner = { kind: 'visitor', id: body.visitorId };
    const admission = admitAnonymous(deps, {
      ...caller,
      agentId: key.agentId,
      visitorId: body.visitorId,
      key: keyAdmission(deps, key, request.origin),
    });
    const regenerate = body.trigger === 'regenerate-message';
    const userMessage = sighting && !regenerate ? validMessage(deps, body) : null;
    if (sighting && (regenerate || userMessage)) {
      const conversation = {
        organizationId: key.organizationId,
        agentId: key.agentId,
        conversationId: body.id,
        owner,
      };
      const write = { userMessage, regenerate, marker, admission: admission.gate };
      early = {
        reads: sendTurnReads(deps, conversation, sighting.agent.mcpServerIds, write),
        ahead: holdAhead(deps, conversation, sighting, body, userMessage, admission.gate),
        userMessage,
      };
      // Awaited once the admission answered; a failure meanwhile is not unhandled.
      early.reads.catch(() => undefined);
      early.ahead?.held.catch(() => undefined);
    }
    let admitted: Awaited<typeof admission.admitted>;
    try {
      admitted = await admission.admitted;
    } catch (error) {
      // Refused: the gated append and hold did nothing.
      await Promise.all([early?.reads.catch(() => undefined), dropAhead(early?.ahead ?? null)]);
      throw error;
    }
    agent = agentRecord.parse(JSON.parse(admitted.agentJson));
    lease = admitted.lease;
  } else {
    // Limits come before validation and before a user token is checked: floods are throttled first.
    agent = await admitChatRequest(deps, request, request.clientIp, visitor);
    body = parseInput(chatRequest, request.body, 'body');
    owner = await resolveOwner(deps, key, body.visitorId, body.userToken, headers);
    lease = await acquireStream(
      deps,
      key.organizationId,
      agent.id,
      `${owner.kind}:${owner.id}`,
      agent.rateLimits.maxStreamsPerVisitor ?? deps.env.MCPSTACK_MAX_STREAMS_PER_VISITOR,
    );
  }
  const model = deps.modelCatalog.get(agent.model);
  const regenerate = body.trigger === 'regenerate-message';
  let userMessage: StoredMessage | null;
  try {
    if (!model) {
      throw new ApiError(
        'service_unavailable',
        `The agent's model ${agent.model} is not offered by this service`,
      );
    }
    userMessage = early ? early.userMessage : regenerate ? null : newUserMessage(deps, body);
  } catch (error) {
    await Promise.all([
      lease.release(),
      early?.reads.catch(() => undefined),
      dropAhead(early?.ahead ?? null),
    ]);
    throw error;
  }
  timings.mark('limits');
  try {
    const conversation = {
      organizationId: key.organizationId,
      agentId: agent.id,
      conversationId: body.id,
      owner,
    };
    const client = deps.models.client(model.id);
    const maxOutputTokens = outputCap(agent, model);
    const write: TurnWrite = { userMessage, regenerate, marker };
    // Not sent behind the admission: the first hold, forecast from what this process last saw, goes out with the reads.
    const ahead = early
      ? early.ahead
      : holdAhead(deps, conversation, sighting && { ...sighting, agent }, body, userMessage);
    let appended: Appended;
    let servers: TurnReads['servers'];
    let budget: BudgetSettings;
    try {
      const reads = await (early?.reads ?? sendTurnReads(deps, conversation, agent.mcpServerIds, write));
      budget = reads.budget;
      Object.assign(headers, reads.creditHeaders);
      // Sent behind an admission that had not run yet (Redis had lost the admission script, which
      // ioredis sent again after them): append now. Tools read for the agent as last seen are read
      // again when its servers changed since.
      [appended, servers] = await Promise.all([
        reads.appended ?? appendMessages(deps, turnAppend(conversation, write)),
        !early || sameServers(sighting?.agent.mcpServerIds ?? [], agent.mcpServerIds)
          ? reads.servers
          : listEnabledTools(deps, key.organizationId, agent.mcpServerIds),
      ]);
    } catch (error) {
      await dropAhead(ahead);
      throw error;
    }
    const tools = agentTools(servers);
    deps.holdForecast.sawAgent(key.organizationId, agent.id, {
      agent,
      resetDayOfMonthUtc: budget.resetDayOfMonthUtc,
      tools: tools.definitions,
    });
    timings.mark('history');
    const liveKey = { organizationId: key.organizationId, conversationId: body.id };
    // The same message again while its answer streams (a lost response, a retry): follow that answer.
    if (appended.repeated && (await deps.liveAnswers.isLive(liveKey))) {
      await Promise.all([lease.release(), dropAhead(ahead)]);
      return {
        headers,
        timings,
        async stream(sink, signal) {
          sink.begin();
          if (!(await deps.liveAnswers.attach(liveKey, sink, signal))) {
            const writer = new UiMessageStream(sink, crypto.randomUUID(), {});
            writer.error('The answer to this message has just finished: reload the conversation.');
            writer.close();
          }
        },
      };
    }
    let live: LiveAnswer | null = null;
    let meter: AnswerMeter | null = null;
    const abort = new AbortController();
    let call: ModelCall;
    let first: PreparedCall;
    try {
      // The append set the live marker, except on a repeat (whose answer has ended): then open sets it.
      live = await deps.liveAnswers.open(
        liveKey,
        (reason) => abort.abort(reason),
        appended.repeated ? undefined : marker,
      );
      // The hold taken ahead counts only when it assumed the agent's model and the settings' reset day.
      const useAhead =
        ahead !== null &&
        (await ahead.held) &&
        ahead.meter.context.model.id === model.id &&
        ahead.meter.context.resetDayOfMonthUtc === budget.resetDayOfMonthUtc;
      if (!useAhead) await ahead?.meter.release();
      meter = useAhead
        ? ahead.meter
        : new AnswerMeter(deps, { ...conversation, model, resetDayOfMonthUtc: budget.resetDayOfMonthUtc });
      const history = appended.messages;
      if (history.at(-1)?.role !== 'user') {
        throw new ApiError('validation_failed', 'body.trigger: there is no user message to answer');
      }
      call = modelCall(agent, model, history, tools.definitions);
      first = client.prepare(call);
      // Free when the hold taken ahead covers the exact bound (the usual case); else one more round trip.
      const held = await meter.hold(first.sentBytes, maxOutputTokens);
      if (!held.ok) throw held.refusal;
    } catch (error) {
      // Nothing streams: no hold may be left to be charged at its expiry.
      live?.cancel();
      await Promise.all(
        [dropAhead(ahead), meter?.release()].map((released) => released?.catch(() => undefined)),
      );
      throw error;
    }
    timings.mark('reserve');
    const answer = new AnswerRun(deps, {
      agent,
      model,
      client,
      call,
      first,
      meter,
      tools,
      timings,
      conversation,
      abort,
      live,
      budgetEnabled: budget.enabled,
    });
    return {
      headers,
      timings,
      stream: (sink, signal) =>
        answer.run(sink, signal).finally(() => {
          void lease.release();
        }),
    };
  } catch (error) {
    await lease.release();
    throw error;
  }
}

interface AnswerSetup {
  /** The agent's caps apply: the answer's finish carries the visitor's budget meter. */
  budgetEnabled: boolean;
  agent: AgentRecord;
  model: CatalogModel;
  client: ModelClient;
  call: ModelCall;
  first: PreparedCall;
  meter: AnswerMeter;
  tools: AgentTools;
  timings: StageTimings;
  conversation: { organizationId: string; agentId: string; conversationId: string; owner: Owner };
  /** Ends the model call and any tool call: our time limit, an explicit stop, nobody watching. */
  abort: AbortController;
  live: LiveAnswer;
}

interface StepResult {
  /** Why the step ended, for the answer's `finish`; null when the answer cannot go on. */
  finishReason: FinishReason | null;
  text: string;
  toolCalls: { toolCallId: string; toolName: string; input: string }[];
}

const uiFinishReason = (reason: string): FinishReason =>
  reason === 'stop' ||
  reason === 'length' ||
  reason === 'content-filter' ||
  reason === 'tool-calls' ||
  reason === 'error'
    ? reason
    : 'other';

/**
 * One answer: the agent's tool loop. Each step holds its cost bound, calls the model, streams what
 * it says to the visitor, settles the call with its record, and runs the tools it asked for; the
 * loop ends when the model stops asking, at the agent's step limit, on a failure, or when the next
 * step's budget is refused (the partial answer is kept).
 */
class AnswerRun {
  readonly #deps: Deps;
  readonly #setup: AnswerSetup;
  readonly #abort: AbortController;
  #timedOut = false;
  /** The settle of the last model call, in flight. */
  #settling: Promise<void> = Promise.resolve();

  constructor(deps: Deps, setup: AnswerSetup) {
    this.#deps = deps;
    this.#setup = setup;
    this.#abort = setup.abort;
  }

  async run(sink: TurnSink, visitorGone: AbortSignal): Promise<void> {
    const deps = this.#deps;
    const { agent, client, meter } = this.#setup;
    // One controller ends the model call and any tool call: the visitor leaving, or our time limit.
    // The timer is cleared with the answer (AbortSignal.timeout would keep every turn alive).
    const timer = setTimeout(() => {
      this.#timedOut = true;
      this.#abort.abort(new Error('The turn took longer than MCPSTACK_MODEL_TIMEOUT_MS'));
    }, deps.env.MCPSTACK_MODEL_TIMEOUT_MS);
    // The visitor leaving does not stop the answer at once: a reload re-attaches to it (live-answers.ts).
    const { live } = this.#setup;
    const onGone = () => live.unwatch();
    visitorGone.addEventListener('abort', onGone, { once: true });
    if (visitorGone.aborted) onGone();

    const writer = new UiMessageStream(live.through(sink), crypto.randomUUID(), {
      createdAt: deps.clock.now().toISOString(),
    });
    writer.start();
    const prompt = [...this.#setup.call.prompt];
    const failures = new ToolFailureStreaks(agent.maxConsecutiveToolFailures);
    let prepared = this.#setup.first;
    let finishReason: FinishReason | null = null;
    try {
      for (let step = 0; step < agent.maxSteps; step++) {
        if (step > 0) {
          await this.#settling;
          prepared = client.prepare({ ...this.#setup.call, prompt });
          const held = await meter.hold(prepared.sentBytes, this.#setup.call.maxOutputTokens);
          if (!held.ok) {
            // Money ran out mid-answer: say why in a typed part the widget reads, keep what was said.
            writer.data('budget', {
              code: held.refusal.code,
              message: held.refusal.message,
              ...held.refusal.details,
            });
            finishReason = 'other';
            break;
          }
        }
        const result = await this.#step(step, prepared, writer, sink);
        finishReason = result.finishReason;
        if (finishReason === null || result.toolCalls.length === 0) break;
        const outcomes = await this.#runTools(result.toolCalls, writer);
        writer.finishStep();
        prompt.push(...stepMessages(result, outcomes));
        if (this.#abort.signal.aborted) {
          finishReason = null;
          this.#explainAbort(writer);
          break;
        }
        const failing = failures.record(result.toolCalls, outcomes);
        if (failing) {
          // A tool that keeps failing would have the model retry it until maxSteps: stop before that burns the budget.
          writer.data('tool-failures', {
            toolName: failing.toolName,
            failures: failing.failures,
            message: `The tool ${failing.toolName} failed ${failing.failures} times in a row, so the assistant stopped. Please try again later.`,
          });
          finishReason = 'other';
          break;
        }
      }
      if (finishReason !== null) {
        // The meter after this answer's last settle.
        const budget = this.#setup.budgetEnabled ? await this.#budgetMeter() : null;
        writer.finish(finishReason, budget ? { budget } : undefined);
      }
    } catch (error) {
      writer.error(visitorErrorText(deps, error));
    } finally {
      clearTimeout(timer);
      visitorGone.removeEventListener('abort', onGone);
      // The last settle, an unused hold given back and the answer stored: one round trip.
      await Promise.all([
        this.#settling,
        meter.release().catch(() => undefined),
        this.#store(writer.message),
      ]);
      sink.begin();
      writer.close();
    }
  }

  /** The visitor's budget meter after this answer's settles; a failure to read it never fails the answer. */
  async #budgetMeter() {
    // Redis away (the settle goes to the journal): the answer ends without its meter, at once.
    if (this.#deps.redis.status !== 'ready') return null;
    await this.#settling;
    const { conversation } = this.#setup;
    // A slow Redis never holds the finish back longer than a settle may take.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), this.#deps.env.MCPSTACK_SETTLE_TIMEOUT_MS);
    });
    const read = visitorBudget(
      this.#deps,
      conversation.organizationId,
      conversation.agentId,
      conversation.owner,
    );
    read.catch(() => undefined);
    try {
      return await Promise.race([read, deadline]);
    } catch (error) {
      this.#deps.logger.warn({ reason: describeError(error) }, 'could not read the budget meter');
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  #explainAbort(writer: UiMessageStream): void {
    if (this.#timedOut) writer.error('The assistant took too long to answer. Please try again.');
    writer.abort();
  }

  async #step(
    stepNumber: number,
    prepared: PreparedCall,
    writer: UiMessageStream,
    sink: TurnSink,
  ): Promise<StepResult> {
    const deps = this.#deps;
    const { meter, tools, timings } = this.#setup;
    const signal = this.#abort.signal;
    const started = deps.clock.now();
    const startedMs = performance.now();
    let firstOutputMs: number | null = null;
    let outputBytes = 0;
    let text = '';
    let usage: LanguageModelV4Usage | null = null;
    let rawFinish: string | null = null;
    let streamError: unknown = null;
    let stepOpen = false;
    const toolCalls: StepResult['toolCalls'] = [];

    const onPart = (part: LanguageModelV4StreamPart) => {
      switch (part.type) {
        case 'text-delta':
          firstOutputMs ??= performance.now() - startedMs;
          outputBytes += Buffer.byteLength(part.delta, 'utf8');
          text += part.delta;
          writer.textDelta(part.id, part.delta);
          break;
        case 'stream-start':
          stepOpen = true;
          if (stepNumber === 0) {
            timings.mark('model');
            sink.begin();
          }
          writer.startStep();
          break;
        case 'text-start':
          writer.textStart(part.id);
          break;
        case 'text-end':
          writer.textEnd(part.id);
          break;
        case 'reasoning-delta':
          // Reasoning is paid for and counted, not shown (the AI SDK's sendReasoning: false).
          firstOutputMs ??= performance.now() - startedMs;
          outputBytes += Buffer.byteLength(part.delta, 'utf8');
          break;
        case 'tool-input-start':
          firstOutputMs ??= performance.now() - startedMs;
          writer.toolInputStart(part.id, part.toolName, tools.bindings.get(part.toolName)?.displayName);
          break;
        case 'tool-input-delta':
          outputBytes += Buffer.byteLength(part.delta, 'utf8');
          writer.toolInputDelta(part.id, part.delta);
          break;
        case 'tool-call':
          toolCalls.push({ toolCallId: part.toolCallId, toolName: part.toolName, input: part.input });
          break;
        case 'finish':
          usage = part.usage;
          rawFinish = part.finishReason.unified;
          break;
        case 'error':
          streamError ??= part.error;
          break;
      }
    };

    let failure: unknown = null;
    try {
      await prepared.stream(onPart, signal);
    } catch (error) {
      failure = error;
    }
    if (!stepOpen && failure === null && !signal.aborted) failure = new ModelCallError('No answer', null);
    const aborted = signal.aborted;
    const problem = failure ?? streamError;
    const status: LlmCallRecord['status'] = aborted ? 'aborted' : problem !== null ? 'error' : 'ok';
    // Not awaited here: the step's tools run meanwhile; the next hold, or the answer's end, waits for it.
    this.#settling = this.#settle(meter, {
      stepNumber,
      status,
      error: problem === null ? (aborted ? describeError(signal.reason) : null) : describeError(problem),
      sentBytes: prepared.sentBytes,
      usage,
      firstOutputMs,
      outputBytes,
      finishReason: rawFinish,
      toolCalls: toolCalls.map(({ toolCallId, toolName }) => ({ toolCallId, toolName })),
      started,
      startedMs,
    });

    if (aborted) {
      this.#explainAbort(writer);
      return { finishReason: null, text, toolCalls: [] };
    }
    if (problem !== null) {
      writer.error(visitorErrorText(deps, problem));
      return { finishReason: null, text, toolCalls: [] };
    }
    if (toolCalls.length === 0) writer.finishStep();
    return { finishReason: uiFinishReason(rawFinish ?? 'other'), text, toolCalls };
  }

  async #settle(
    meter: AnswerMeter,
    measured: {
      stepNumber: number;
      status: LlmCallRecord['status'];
      error: string | null;
      sentBytes: number;
      usage: LanguageModelV4Usage | null;
      firstOutputMs: number | null;
      outputBytes: number;
      finishReason: string | null;
      toolCalls: { toolCallId: string; toolName: string }[];
      started: Date;
      startedMs: number;
    },
  ): Promise<void> {
    const deps = this.#deps;
    const { usage, status } = measured;
    const maxOutputTokens = this.#setup.call.maxOutputTokens;
    const reported = usage?.inputTokens.total !== undefined && usage?.outputTokens.total !== undefined;
    // Without reported usage: the bounds that were held (bytes sent; bytes received, at most the
    // output limit). A call that failed before any output produced nothing to pay for.
    const nothing = status === 'error' && measured.firstOutputMs === null;
    const inputTokens = reported ? (usage?.inputTokens.total ?? 0) : nothing ? 0 : measured.sentBytes;
    const outputTokens = reported
      ? (usage?.outputTokens.total ?? 0)
      : Math.min(measured.outputBytes, maxOutputTokens);
    const cachedInputTokens = reported ? (usage?.inputTokens.cacheRead ?? 0) : 0;
    const call = buildLlmCall(meter.context, {
      stepNumber: measured.stepNumber,
      status,
      inputTokens,
      cachedInputTokens,
      outputTokens,
      reasoningTokens: reported ? (usage?.outputTokens.reasoning ?? 0) : 0,
      usageEstimated: !reported && (inputTokens > 0 || outputTokens > 0),
      costMicros: costMicros(meter.context.model, { inputTokens, cachedInputTokens, outputTokens }),
      latencyMs: Math.round(performance.now() - measured.startedMs),
      timeToFirstTokenMs: measured.firstOutputMs === null ? null : Math.round(measured.firstOutputMs),
      finishReason: measured.finishReason,
      toolCalls: measured.toolCalls,
      error: measured.error,
      createdAt: measured.started.toISOString(),
      finishedAt: deps.clock.now().toISOString(),
    });
    try {
      await meter.settle(call);
    } catch (error) {
      // Neither Redis nor the local journal took it (a full disk?): say so loudly, with the record.
      deps.logger.error({ err: error, call }, 'could not settle or journal an LLM call');
    }
  }

  /** Runs the step's tool calls at once; each outcome is streamed as it is known. */
  async #runTools(calls: StepResult['toolCalls'], writer: UiMessageStream): Promise<ToolOutcome[]> {
    const { tools } = this.#setup;
    const signal = this.#abort.signal;
    const started = calls.map((call) => {
      const binding = tools.bindings.get(call.toolName);
      let input: unknown;
      try {
        input = JSON.parse(call.input);
      } catch {
        const errorText = `Invalid input for tool ${call.toolName}: the arguments are not valid JSON.`;
        writer.toolInputError(call.toolCallId, call.toolName, call.input, binding?.displayName, errorText);
        return Promise.resolve<ToolOutcome>({ ok: false, errorText });
      }
      if (!binding) {
        const errorText = `Model tried to call unavailable tool '${call.toolName}'.`;
        writer.toolInputError(call.toolCallId, call.toolName, input, undefined, errorText);
        return Promise.resolve<ToolOutcome>({ ok: false, errorText });
      }
      writer.toolInputAvailable(call.toolCallId, call.toolName, input, binding.displayName);
      return callTool(this.#deps, binding, input, signal).then((outcome) => {
        if (outcome.ok) writer.toolOutputAvailable(call.toolCallId, outcome.output);
        else writer.toolOutputError(call.toolCallId, outcome.errorText);
        return outcome;
      });
    });
    return Promise.all(started);
  }

  /** Stores the answer, and tells the forecast how large this turn was (its next turn's first hold). */
  async #store(message: StoredMessage): Promise<void> {
    const { conversation, first } = this.#setup;
    let answerBytes = 0;
    if (message.parts.length > 0) {
      try {
        ({ appendedBytes: answerBytes } = await appendMessages(this.#deps, {
          ...conversation,
          messages: [message],
          create: false,
          history: false,
        }));
      } catch (error) {
        this.#deps.logger.error(
          {
            err: error,
            conversationId: conversation.conversationId,
            organizationId: conversation.organizationId,
          },
          'could not store the answer',
        );
      }
    }
    this.#deps.holdForecast.sawTurn(
      conversation.organizationId,
      conversation.conversationId,
      first.sentBytes,
      answerBytes,
    );
  }
}

/** Consecutive failures of each tool within one answer; a success of the tool resets its count. */
class ToolFailureStreaks {
  readonly #limit: number;
  readonly #streaks = new Map<string, number>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Counts a step's outcomes; returns the tool that reached the limit, if one did. */
  record(
    calls: readonly { toolName: string }[],
    outcomes: readonly ToolOutcome[],
  ): { toolName: string; failures: number } | null {
    let reached: { toolName: string; failures: number } | null = null;
    for (const [index, call] of calls.entries()) {
      const failures = outcomes[index]?.ok ? 0 : (this.#streaks.get(call.toolName) ?? 0) + 1;
      this.#streaks.set(call.toolName, failures);
      if (failures >= this.#limit && !reached) reached = { toolName: call.toolName, failures };
    }
    return reached;
  }
}

/** A step's text and tool calls, and the tools' results, as the next step's prompt continues. */
function stepMessages(result: StepResult, outcomes: readonly ToolOutcome[]): LanguageModelV4Message[] {
  const assistant: Extract<LanguageModelV4Message, { role: 'assistant' }> = {
    role: 'assistant',
    content: [],
  };
  if (result.text) assistant.content.push({ type: 'text', text: result.text });
  const tool: Extract<LanguageModelV4Message, { role: 'tool' }> = { role: 'tool', content: [] };
  for (const [index, call] of result.toolCalls.entries()) {
    let input: unknown = call.input;
    try {
      input = JSON.parse(call.input);
    } catch {
      // invalid arguments are sent back as the model wrote them
    }
    assistant.content.push({
      type: 'tool-call',
      toolCallId: call.toolCallId,
      toolName: call.toolName,
      input,
    });
    const outcome = outcomes[index];
    tool.content.push({
      type: 'tool-result',
      toolCallId: call.toolCallId,
      toolName: call.toolName,
      output: outcome?.ok
        ? { type: 'text', value: outcome.output }
        : { type: 'error-text', value: outcome?.errorText ?? '' },
    });
  }
  return [assistant, tool];
}
