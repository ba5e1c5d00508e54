export type {
  ChatCompletionRequest,
  ChatContentPart,
  ChatMessage,
  ChatRole,
  ChatTool,
  ChatToolCall,
  ChatToolChoice,
  JsonSchema,
} from './chat-request.ts';
export type { FinishReason, Usage } from './completion.ts';
export type { Reply } from './reply.ts';
export {
  type LocalModel,
  type LocalModelOptions,
  listedModels,
  type RecordedRequest,
  startLocalModel,
} from './server.ts';
export { countPromptTokens, countTextTokens } from './tokens.ts';
