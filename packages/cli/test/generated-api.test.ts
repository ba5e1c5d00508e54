import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { generateApiTypes, generatedFile } from '../scripts/generate-api.ts';

describe('the generated API types', () => {
  it("match the service's OpenAPI document as it is now (run `npm run generate -w @mcpstack/cli` when this fails)", async () => {
    const committed = await readFile(generatedFile, 'utf8');
    const fresh = await generateApiTypes();
    expect(committed === fresh, 'src/generated/api.d.ts is stale').toBe(true);
    expect(fresh).toContain('"/api/v1/cli/config"');
    expect(fresh).toContain('"/api/v1/organizations/{orgId}/ai-credits/ledger"');
  });
});
