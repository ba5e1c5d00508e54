import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import type { McpServerRecord } from '../../storage/records.ts';
import type { McpEndpoint } from './client.ts';

/**
 * The headers that authenticate to a registered MCP server: checked on the way in, sealed with the
 * server id as context, and opened only here, to build the endpoint the MCP client calls.
 */

const maxHeaders = 20;
/** Headers the MCP transport sets itself; a stored value would break or spoof the protocol. */
const reservedHeaders = new Set([
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'accept',
  'mcp-session-id',
  'mcp-protocol-version',
  'last-event-id',
]);
const headerNamePattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export const headersInput = z
  .record(z.string(), z.string())
  .superRefine((headers, context) => {
    const names = Object.keys(headers);
    if (names.length > maxHeaders) {
      context.addIssue({ code: 'custom', message: `at most ${maxHeaders} headers (got ${names.length})` });
    }
    const seen = new Set<string>();
    for (const name of names) {
      const lower = name.toLowerCase();
      const value = headers[name] ?? '';
      const fail = (message: string) => context.addIssue({ code: 'custom', path: [name], message });
      if (name.length === 0 || name.length > 100 || !headerNamePattern.test(name)) {
        fail("must be an HTTP header name: 1-100 letters, digits or !#$%&'*+-.^_`|~");
      } else if (reservedHeaders.has(lower)) {
        fail('is set by the MCP transport and cannot be stored');
      } else if (seen.has(lower)) {
        fail('is given twice (header names are case-insensitive)');
      }
      seen.add(lower);
      if (/[\r\n\0]/.test(value)) fail('must not contain line breaks or NUL');
      else if (value.length > 8192) fail('must be at most 8192 characters');
    }
  })
  .describe(
    'Sent with every request to the server, e.g. {"Authorization": "Bearer …"}. Stored encrypted and never returned: responses list only headerNames.',
  );

/** The record fields for the given headers: their names in the clear, their values sealed. */
export function sealHeaders(
  deps: Pick<Deps, 'secretBox'>,
  serverId: string,
  headers: Record<string, string> | null | undefined,
): Pick<McpServerRecord, 'headerNames' | 'sealedHeaders'> {
  const names = Object.keys(headers ?? {});
  if (!headers || names.length === 0) return { headerNames: [], sealedHeaders: null };
  return { headerNames: names, sealedHeaders: deps.secretBox.seal(JSON.stringify(headers), serverId) };
}

const openedHeaders = z.record(z.string(), z.string());

/** The URL and opened headers of a server: the only place stored credentials are decrypted. */
export function endpointOf(deps: Pick<Deps, 'secretBox'>, server: McpServerRecord): McpEndpoint {
  if (server.sealedHeaders === null) return { serverId: server.id, url: server.url, headers: {} };
  let plaintext: string;
  try {
    plaintext = deps.secretBox.open(server.sealedHeaders, server.id);
  } catch {
    throw new Error(
      `The stored headers of MCP server ${server.id} cannot be decrypted: was MCPSTACK_SECRET_KEY changed? Set them again with PATCH.`,
    );
  }
  return { serverId: server.id, url: server.url, headers: openedHeaders.parse(JSON.parse(plaintext)) };
}
