import { createOpenAI } from '@ai-sdk/openai';
import type { LanguageModelV4, LanguageModelV4StreamPart } from '@ai-sdk/provider';
import { dynamicTool, jsonSchema, type LanguageModelMiddleware, type ToolSet, wrapLanguageModel } from 'ai';
import type { Deps } from '../../deps.ts';
import type { Env } from '../../env.ts';
import {
  costBoundMicros,
  type MeterContext,
  type Reservation,
  release,
  reserve,
  settle,
} from '../budgets/meter.ts';
import type { AgentMcpServer } from '../mcp/registry.ts';
import { buildLlmCall, costMicros, type LlmCallRecord } from './llm-calls.ts';

/** Where language models come from: any OpenAI-compatible server at OPENAI_BASE_URL. */
export interface ModelProvider {
  languageModel(modelId: string): LanguageModelV4;
}

export function createModelProvider(
  env: Pick<Env, 'OPENAI_BASE_URL' | 'OPENAI_API_KEY' | 'MCPSTACK_OPENAI_API'>,
): ModelProvider {
  // Local OpenAI-compatible servers (vLLM, Ollama, llama.cpp) often need no key; the SDK wants one.
  const openai = createOpenAI({ baseURL: env.OPENAI_BASE_URL, apiKey: env.OPENAI_API_KEY ?? 'not-needed' });
  return {
    languageModel: (modelId) =>
      env.MCPSTACK_OPENAI_API === 'responses' ? openai.responses(modelId) : openai.chat(modelId),
  };
}

// ---------------------------------------------------------------------------------------------
// Tools

export interface ToolBinding {
  serverId: string;
  toolName: string;
  displayName: string;
}

const toolNamePattern = /[^a-zA-Z0-9_-]/g;

/** Model-facing tool names: the tool's own name, or `<server slug>__<name>` where two servers clash. */
function toolNames(servers: readonly AgentMcpServer[]): Map<string, string> {
  const counts = new Map<string, number>();
  for (const server of servers) {
    for (const tool of server.tools) counts.set(tool.name, (counts.get(tool.name) ?? 0) + 1);
  }
  const names = new Map<string, string>();
  for (const server of servers) {
    for (const tool of server.tools) {
      const raw = (counts.get(tool.name) ?? 0) > 1 ? `${server.slug}__${tool.name}` : tool.name;
      names.set(`${server.serverId}\u0000${tool.name}`, raw.replace(toolNamePattern, '_').slice(0, 64));
    }
  }
  return names;
}

/** MCP content as the text a model reads, bounded: text parts as is, other parts as JSON. */
export function toolOutputText(
  result: { content: unknown[]; structuredContent?: unknown },
  maxChars: number,
): string {
  const pieces = result.content.map((part) => {
    const item = part as { type?: string; text?: unknown };
    return item.type === 'text' && typeof item.text === 'string' ? item.text : JSON.stringify(part);
  });
  let text = pieces.join('\n');
  if (text.trim() === '' && result.structuredContent !== undefined) {
    text = JSON.stringify(result.structuredContent);
  }
  if (text.length <= maxChars) return text;
  return `${text.slice(0, maxChars)}\n[truncated: the tool returned ${text.length} characters]`;
}

/**
 * The enabled tools of the agent's servers as AI SDK tools that call the server through the pool.
 * A tool that fails throws, which the AI SDK turns into a tool error the model reads and can
 * recover from; the stream goes on.
 */
export function buildTools(
  deps: Pick<Deps, 'mcpPool' | 'env'>,
  servers: readonly AgentMcpServer[],
): { tools: ToolSet; bindings: Map<string, ToolBinding> } {
  const names = toolNames(servers);
  const tools: ToolSet = {};
  const bindings = new Map<string, ToolBinding>();
  for (const server of servers) {
    for (const tool of server.tools) {
      const name = names.get(`${server.serverId}\u0000${tool.name}`) ?? tool.name;
      const displayName = tool.displayName ?? tool.name;
      bindings.set(name, { serverId: server.serverId, toolName: tool.name, displayName });
      tools[name] = dynamicTool({
        title: displayName,
        description: tool.description,
        inputSchema: jsonSchema((tool.inputSchema ?? { type: 'object', properties: {} }) as never),
        execute: async (input, { abortSignal }) => {
          const result = await deps.mcpPool.callTool(
            server.serverId,
            server.endpoint,
            tool.name,
            (input ?? {}) as Record<string, unknown>,
            abortSignal,
          );
          const text = toolOutputText(result, deps.env.MCPSTACK_MCP_MAX_RESULT_CHARS);
          if (result.isError) throw new Error(text || `The tool ${displayName} failed`);
          return text;
        },
      });
    }
  }
  return { tools, bindings };
}

// ---------------------------------------------------------------------------------------------
// Metering: every call to the model (every step, every retry) is observed and recorded

type RecordDeps = Pick<Deps, 'redis' | 'scripts' | 'keys' | 'clock' | 'logger' | 'env'>;

/** Bytes bound tokens from above (a token is at least one byte), so this never underestimates. */
export function byteSize(value: unknown): number {
  return Buffer.byteLength(typeof value === 'string' ? value : JSON.stringify(value ?? ''), 'utf8');
}

/** Slack for the few tokens a chat template adds around messages and tool definitions. */
const templateSlackBytes = 256;

async function settleWithRetry(
  deps: RecordDeps,
  context: MeterContext,
  reservation: Reservation | null,
  call: LlmCallRecord,
) {
  for (let attempt = 1; ; attempt++) {
    try {
      await settle(deps, context, reservation, call);
      return;
    } catch (error) {
      if (attempt >= 3) {
        // The reservation expires on its own; the record is in the log for reconciliation.
        deps.logger.error({ err: error, call }, 'could not settle an LLM call');
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}

/**
 * A language-model middleware that wraps each streamed model call (each step of the tool loop):
 * before the call it reserves an upper bound of its cost in every budget scope (or throws 402
 * `budget_exceeded`), then it times the call, watches its parts (first output, tool calls, usage,
 * finish) and settles it when it ends, however it ends: finished, failed, or aborted by the visitor.
 * The first step may use a reservation the chat route made before answering (so it could answer 402).
 */
export function meteringMiddleware(
  deps: RecordDeps,
  context: MeterContext,
  firstReservation: Reservation | null = null,
): LanguageModelMiddleware {
  let stepNumber = 0;
  let prepaid = firstReservation;
  return {
    wrapStream: async ({ doStream, params }) => {
      const step = stepNumber++;
      const sentBytes = byteSize(params.prompt) + byteSize(params.tools ?? []) + templateSlackBytes;
      const maxOutputTokens = params.maxOutputTokens ?? context.model.maxOutputTokens;
      const bound = costBoundMicros(context.model, sentBytes, maxOutputTokens);
      let reservation: Reservation;
      if (prepaid && prepaid.amountMicros >= bound) {
        reservation = prepaid;
      } else {
        if (prepaid) await release(deps, context, prepaid);
        reservation = await reserve(deps, context, bound);
      }
      prepaid = null;
      const started = deps.clock.now();
      const startedMs = performance.now();
      let firstOutputMs: number | null = null;
      let outputChars = 0;
      let usage: Extract<LanguageModelV4StreamPart, { type: 'finish' }>['usage'] | null = null;
      let finishReason: string | null = null;
      let streamError: string | null = null;
      const toolCalls: { toolCallId: string; toolName: string }[] = [];
      let recorded = false;

      const record = async (status: LlmCallRecord['status'], error: string | null) => {
        if (recorded) return;
        recorded = true;
        const reported = usage?.inputTokens.total !== undefined && usage?.outputTokens.total !== undefined;
        // Without reported usage: the bounds that were reserved (bytes sent; bytes received, at most
        // the output limit). A call that failed before any output produced nothing to pay for.
        const nothing = status === 'error' && firstOutputMs === null;
        const inputTokens = reported ? (usage?.inputTokens.total ?? 0) : nothing ? 0 : sentBytes;
        const outputTokens = reported
          ? (usage?.outputTokens.total ?? 0)
          : Math.min(outputChars, maxOutputTokens);
        const cachedInputTokens = reported ? (usage?.inputTokens.cacheRead ?? 0) : 0;
        const entry = buildLlmCall(context, {
          stepNumber: step,
          status,
          inputTokens,
          cachedInputTokens,
          outputTokens,
          reasoningTokens: reported ? (usage?.outputTokens.reasoning ?? 0) : 0,
          usageEstimated: !reported && (inputTokens > 0 || outputTokens > 0),
          costMicros: costMicros(context.model, { inputTokens, cachedInputTokens, outputTokens }),
          latencyMs: Math.round(performance.now() - startedMs),
          timeToFirstTokenMs: firstOutputMs === null ? null : Math.round(firstOutputMs),
          finishReason,
          toolCalls,
          error,
          createdAt: started.toISOString(),
          finishedAt: deps.clock.now().toISOString(),
        });
        await settleWithRetry(deps, context, reservation, entry);
      };

      let result: Awaited<ReturnType<typeof doStream>>;
      try {
        result = await doStream();
      } catch (error) {
        await record(params.abortSignal?.aborted ? 'aborted' : 'error', describeError(error));
        throw error;
      }

      const observe = (part: LanguageModelV4StreamPart) => {
        switch (part.type) {
          case 'text-delta':
          case 'reasoning-delta':
            firstOutputMs ??= performance.now() - startedMs;
            outputChars += Buffer.byteLength(part.delta, 'utf8');
            break;
          case 'tool-input-start':
            firstOutputMs ??= performance.now() - startedMs;
            break;
          case 'tool-input-delta':
            outputChars += Buffer.byteLength(part.delta, 'utf8');
            break;
          case 'tool-call':
            toolCalls.push({ toolCallId: part.toolCallId, toolName: part.toolName });
            break;
          case 'finish':
            usage = part.usage;
            finishReason = part.finishReason.unified;
            break;
          case 'error':
            streamError = describeError(part.error);
            break;
        }
      };

      // One synchronous pass per part (a transform, not a pulled stream: it runs for every token).
      // `cancel` is called when the model's stream fails and when the visitor's side cancels it.
      const stream = result.stream.pipeThrough(
        new TransformStream<LanguageModelV4StreamPart, LanguageModelV4StreamPart>({
          transform(part, controller) {
            observe(part);
            controller.enqueue(part);
          },
          flush: () => record(streamError ? 'error' : 'ok', streamError),
          cancel: (reason) =>
            record(params.abortSignal?.aborted ? 'aborted' : 'error', describeError(reason ?? 'cancelled')),
        }),
      );
      return { ...result, stream };
    },
  };
}

export function meteredModel(
  deps: RecordDeps & { models: ModelProvider },
  context: MeterContext,
  firstReservation: Reservation | null,
): LanguageModelV4 {
  return wrapLanguageModel({
    model: deps.models.languageModel(context.model.id),
    middleware: meteringMiddleware(deps, context, firstReservation),
  }) as LanguageModelV4;
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
