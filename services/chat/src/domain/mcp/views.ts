import type { McpServerRecord, ToolRecord } from '../../storage/records.ts';
import type { CatalogState } from './tool-catalog.ts';

/** What the API answers about MCP servers and their tools: never the stored headers' values. */

export type CatalogStatus = 'unknown' | 'ok' | 'error';

export interface McpServerView {
  id: string;
  organizationId: string;
  name: string;
  slug: string;
  description: string | null;
  url: string;
  headerNames: string[];
  toolCount: number;
  catalogStatus: CatalogStatus;
  catalogError: string | null;
  createdOn: string;
  updatedAt: string;
}

export interface ToolView {
  id: string;
  name: string;
  toolKey: string;
  title: string | null;
  /** The organization's display name, else the server's title; null when neither is set. */
  displayName: string | null;
  description: string | null;
  descriptionOverride: string | null;
  isEnabled: boolean;
  instructions: string | null;
  whenToUse: string | null;
  whenNotToUse: string | null;
  inputSchema: Record<string, unknown> | null;
}

export interface McpServerDetail extends McpServerView {
  tools: ToolView[];
}

export function toServerView(server: McpServerRecord, catalog: CatalogState | null): McpServerView {
  return {
    id: server.id,
    organizationId: server.organizationId,
    name: server.name,
    slug: server.slug,
    description: server.description,
    url: server.url,
    headerNames: server.headerNames,
    toolCount: catalog?.toolIds.length ?? 0,
    catalogStatus: catalog?.status ?? 'unknown',
    catalogError: catalog?.error ?? null,
    createdOn: server.createdOn,
    updatedAt: server.updatedAt,
  };
}

export function toToolView(tool: ToolRecord): ToolView {
  return {
    id: tool.id,
    name: tool.name,
    toolKey: tool.name,
    title: tool.title,
    displayName: tool.displayName,
    description: tool.description,
    descriptionOverride: tool.descriptionOverride,
    isEnabled: tool.isEnabled,
    instructions: tool.instructions,
    whenToUse: tool.whenToUse,
    whenNotToUse: tool.whenNotToUse,
    inputSchema: tool.inputSchema,
  };
}
