import type { LanguageModelV4 } from '@ai-sdk/provider';
import { APICallError } from 'ai';
import { type ModelCall, ModelCallError, type ModelClient } from './model-client.ts';

const byteSize = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');

/**
 * Any AI SDK language model (here the OpenAI Responses API) as a model client: its own `doStream`,
 * read part by part. The size of the prompt and tool definitions as JSON bounds what the provider
 * sends (its own format only adds to it, as the chat template does: see `templateSlackBytes`).
 */
export function createAiSdkClient(
  model: LanguageModelV4,
  options: { retryDelayMs?: number } = {},
): ModelClient {
  const retryDelayMs = options.retryDelayMs ?? 500;
  return {
    prepare(call: ModelCall) {
      const tools = call.tools.map((tool) => ({
        type: 'function' as const,
        name: tool.name,
        description: tool.description,
        inputSchema: tool.inputSchema,
      }));
      return {
        sentBytes: byteSize(call.prompt) + byteSize(tools),
        async stream(onPart, signal) {
          let result: Awaited<ReturnType<LanguageModelV4['doStream']>>;
          for (let attempt = 0; ; attempt++) {
            try {
              result = await model.doStream({
                prompt: call.prompt,
                tools: tools.length > 0 ? tools : undefined,
                maxOutputTokens: call.maxOutputTokens,
                temperature: call.temperature,
                abortSignal: signal,
              });
              break;
            } catch (error) {
              if (signal.aborted) throw signal.reason;
              const status = APICallError.isInstance(error) ? (error.statusCode ?? null) : null;
              const retryable = APICallError.isInstance(error) ? error.isRetryable : true;
              if (attempt > 0 || !retryable) {
                const message = error instanceof Error ? error.message : String(error);
                throw new ModelCallError(message, status, { cause: error });
              }
              await new Promise((resolve) => setTimeout(resolve, retryDelayMs));
            }
          }
          const reader = result.stream.getReader();
          try {
            for (;;) {
              const next = await reader.read();
              if (next.done) break;
              onPart(next.value);
            }
          } catch (error) {
            if (signal.aborted) throw signal.reason;
            onPart({ type: 'error', error });
          }
        },
      };
    },
  };
}
