import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { type ToolRecord, toolRecord } from '../../storage/records.ts';
import { requireServer } from './servers.ts';
import { catalogField, maxSwapAttempts, toolsKey } from './tool-catalog.ts';
import { type ToolView, toToolView } from './views.ts';

/** The organization's settings for one tool of a server: enabled or not, and how agents see it. */

const nullableText = (max: number) => z.string().max(max).nullable();
export const patchToolInput = z
  .object({
    isEnabled: z.boolean().describe('Disabled tools are hidden from agents and refused by the smoke call.'),
    displayName: z.string().trim().min(1).max(200).nullable(),
    descriptionOverride: nullableText(4000).describe(
      "Replaces the server's description of the tool for agents.",
    ),
    instructions: nullableText(4000).describe('How the agent must use the tool; added to its description.'),
    whenToUse: nullableText(2000),
    whenNotToUse: nullableText(2000),
  })
  .partial()
  .strict();

export type PatchToolInput = z.infer<typeof patchToolInput>;

/** Changes a tool's settings without touching what the server lists, even while a listing stores it. */
export async function patchTool(
  deps: Pick<Deps, 'redis' | 'scripts' | 'keys' | 'stores'>,
  organizationId: string,
  serverId: string,
  toolId: string,
  input: PatchToolInput,
): Promise<ToolView> {
  const server = await requireServer(deps, organizationId, serverId);
  const key = toolsKey(deps, server);
  const notFound = () => new ApiError('tool_not_found', `No tool ${toolId} on MCP server ${serverId}`);
  if (toolId === catalogField) throw notFound();
  for (let attempt = 0; attempt < maxSwapAttempts; attempt++) {
    const raw = await deps.redis.hget(key, toolId);
    if (raw === null) throw notFound();
    const next: ToolRecord = { ...toolRecord.parse(JSON.parse(raw)), ...input };
    if (
      await deps.scripts.hashFieldSwap(
        { hash: key },
        { field: toolId, expected: raw, value: JSON.stringify(next) },
      )
    ) {
      return toToolView(next);
    }
  }
  throw new Error(`Gave up updating tool ${toolId} after ${maxSwapAttempts} concurrent changes`);
}
