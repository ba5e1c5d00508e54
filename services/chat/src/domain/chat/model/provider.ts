import { createOpenAI } from '@ai-sdk/openai';
import type { Env } from '../../../env.ts';
import { createAiSdkClient } from './ai-sdk-client.ts';
import { createChatCompletionsClient } from './chat-completions.ts';
import type { ModelClient, ModelProvider } from './model-client.ts';

/**
 * The service's models, from any OpenAI-compatible server at OPENAI_BASE_URL: Chat Completions
 * through the lean client (the default), or the Responses API through `@ai-sdk/openai`.
 */
export function createModelProvider(
  env: Pick<Env, 'OPENAI_BASE_URL' | 'OPENAI_API_KEY' | 'MCPSTACK_OPENAI_API'>,
): ModelProvider {
  const clients = new Map<string, ModelClient>();
  // Local OpenAI-compatible servers (vLLM, Ollama, llama.cpp) often need no key.
  const openai =
    env.MCPSTACK_OPENAI_API === 'responses'
      ? createOpenAI({ baseURL: env.OPENAI_BASE_URL, apiKey: env.OPENAI_API_KEY ?? 'not-needed' })
      : null;
  return {
    client(modelId) {
      let client = clients.get(modelId);
      if (!client) {
        client = openai
          ? createAiSdkClient(openai.responses(modelId))
          : createChatCompletionsClient(modelId, {
              baseUrl: env.OPENAI_BASE_URL,
              apiKey: env.OPENAI_API_KEY,
            });
        clients.set(modelId, client);
      }
      return client;
    },
  };
}
