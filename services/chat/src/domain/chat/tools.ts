import type { JSONSchema7 } from '@ai-sdk/provider';
import type { Deps } from '../../deps.ts';
import type { McpEndpoint } from '../mcp/client.ts';
import type { AgentMcpServer } from '../mcp/enabled-tools.ts';
import type { ModelTool } from './model/model-client.ts';

/** A model-facing tool name bound to the MCP server and tool it calls. */
export interface ToolBinding {
  endpoint: McpEndpoint;
  toolName: string;
  displayName: string;
}

export interface AgentTools {
  definitions: ModelTool[];
  bindings: Map<string, ToolBinding>;
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

/** The enabled tools of the agent's servers, as the model sees them and as they are called. */
export function agentTools(servers: readonly AgentMcpServer[]): AgentTools {
  const names = toolNames(servers);
  const definitions: ModelTool[] = [];
  const bindings = new Map<string, ToolBinding>();
  for (const server of servers) {
    for (const tool of server.tools) {
      const name = names.get(`${server.serverId}\u0000${tool.name}`) ?? tool.name;
      bindings.set(name, {
        endpoint: server.endpoint,
        toolName: tool.name,
        displayName: tool.displayName ?? tool.name,
      });
      definitions.push({
        name,
        description: tool.description,
        inputSchema: (tool.inputSchema ?? { type: 'object', properties: {} }) as JSONSchema7,
      });
    }
  }
  return { definitions, bindings };
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

export type ToolOutcome = { ok: true; output: string } | { ok: false; errorText: string };

/**
 * Calls a tool in the server's kept MCP session. A tool that fails (an error result, a server that
 * is down, a timeout) is an outcome the model reads and can recover from, never a failure of the
 * answer.
 */
export async function callTool(
  deps: Pick<Deps, 'mcp' | 'env'>,
  binding: ToolBinding,
  input: unknown,
  signal: AbortSignal,
): Promise<ToolOutcome> {
  try {
    const result = await deps.mcp.callTool(
      binding.endpoint,
      binding.toolName,
      (input ?? {}) as Record<string, unknown>,
      { signal },
    );
    const text = toolOutputText(result, deps.env.MCPSTACK_MCP_MAX_RESULT_CHARS);
    if (result.isError) return { ok: false, errorText: text || `The tool ${binding.displayName} failed` };
    return { ok: true, output: text };
  } catch (error) {
    return { ok: false, errorText: error instanceof Error ? error.message || error.name : String(error) };
  }
}
