import type { LanguageModelV4Message, LanguageModelV4Prompt } from '@ai-sdk/provider';
import type { DynamicToolUIPart } from 'ai';
import type { StoredMessage } from './conversations.ts';

/**
 * The conversation the server keeps, as the model's prompt: what the AI SDK's
 * `convertToModelMessages(history, { ignoreIncompleteToolCalls: true })` gives for the parts a
 * stored conversation holds (user text; assistant text and dynamic tool calls, split into one
 * assistant message and one tool message per step). Tool calls that never completed are left out.
 */
export function promptOf(instructions: string, history: readonly StoredMessage[]): LanguageModelV4Prompt {
  const prompt: LanguageModelV4Prompt = [];
  if (instructions) prompt.push({ role: 'system', content: instructions });
  for (const message of history) {
    if (message.role === 'user') {
      prompt.push({
        role: 'user',
        content: message.parts.flatMap((part) =>
          part.type === 'text' ? [{ type: 'text', text: part.text }] : [],
        ),
      });
    } else if (message.role === 'assistant') {
      let block: StoredMessage['parts'] = [];
      for (const part of message.parts) {
        if (part.type === 'step-start') {
          pushStep(prompt, block);
          block = [];
        } else block.push(part);
      }
      pushStep(prompt, block);
    }
  }
  return prompt;
}

const completed = (part: DynamicToolUIPart) =>
  part.state === 'output-available' || part.state === 'output-error';

function pushStep(prompt: LanguageModelV4Prompt, parts: StoredMessage['parts']): void {
  const assistant: Extract<LanguageModelV4Message, { role: 'assistant' }>['content'] = [];
  const results: Extract<LanguageModelV4Message, { role: 'tool' }>['content'] = [];
  for (const part of parts) {
    if (part.type === 'text') assistant.push({ type: 'text', text: part.text });
    else if (part.type === 'dynamic-tool' && completed(part)) {
      assistant.push({
        type: 'tool-call',
        toolCallId: part.toolCallId,
        toolName: part.toolName,
        input: part.input,
      });
      results.push({
        type: 'tool-result',
        toolCallId: part.toolCallId,
        toolName: part.toolName,
        output:
          part.state === 'output-error'
            ? { type: 'error-text', value: part.errorText }
            : typeof part.output === 'string'
              ? { type: 'text', value: part.output }
              : { type: 'json', value: (part.output ?? null) as never },
      });
    }
  }
  if (assistant.length > 0) prompt.push({ role: 'assistant', content: assistant });
  if (results.length > 0) prompt.push({ role: 'tool', content: results });
}
