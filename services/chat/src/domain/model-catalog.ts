import { z } from 'zod';
import { usdToMicros } from './money.ts';

const usdPerMillion = z.number().min(0).max(10_000);

export const modelEntrySchema = z
  .object({
    id: z.string().min(1).max(200),
    name: z.string().min(1).max(200).optional(),
    provider: z.string().min(1).max(100).default('openai'),
    inputUsdPerMillionTokens: usdPerMillion,
    cachedInputUsdPerMillionTokens: usdPerMillion.optional(),
    outputUsdPerMillionTokens: usdPerMillion,
    contextWindowTokens: z.number().int().positive().default(128_000),
    maxOutputTokens: z.number().int().positive().default(16_384),
  })
  .strict();

/**
 * `MCPSTACK_MODEL_CATALOG`: an array of entries (each replaces the default of the same id or adds
 * a model), or `{ "models": [...], "replaceDefaults": true }` to offer only the listed models.
 */
export const modelCatalogOverrideSchema = z.union([
  z.array(modelEntrySchema),
  z.object({ models: z.array(modelEntrySchema), replaceDefaults: z.boolean().default(false) }).strict(),
]);

export interface ModelPrice {
  /** Integer micro-USD per million tokens: money is never a float inside the service. */
  inputMicrosPerMillion: number;
  cachedInputMicrosPerMillion: number;
  outputMicrosPerMillion: number;
}

export interface CatalogModel extends ModelPrice {
  id: string;
  name: string;
  provider: string;
  contextWindowTokens: number;
  maxOutputTokens: number;
}

export interface ModelCatalog {
  models: readonly CatalogModel[];
  defaultModelId: string;
  get(id: string): CatalogModel | undefined;
}

// Public list prices (USD per million tokens) of OpenAI's API at the time of writing; operators
// override them with MCPSTACK_MODEL_CATALOG when their contract or provider differs.
const defaults: z.input<typeof modelEntrySchema>[] = [
  {
    id: 'gpt-4.1-mini',
    name: 'GPT-4.1 mini',
    inputUsdPerMillionTokens: 0.4,
    cachedInputUsdPerMillionTokens: 0.1,
    outputUsdPerMillionTokens: 1.6,
    contextWindowTokens: 1_047_576,
    maxOutputTokens: 32_768,
  },
  {
    id: 'gpt-4.1',
    name: 'GPT-4.1',
    inputUsdPerMillionTokens: 2,
    cachedInputUsdPerMillionTokens: 0.5,
    outputUsdPerMillionTokens: 8,
    contextWindowTokens: 1_047_576,
    maxOutputTokens: 32_768,
  },
  {
    id: 'gpt-4.1-nano',
    name: 'GPT-4.1 nano',
    inputUsdPerMillionTokens: 0.1,
    cachedInputUsdPerMillionTokens: 0.025,
    outputUsdPerMillionTokens: 0.4,
    contextWindowTokens: 1_047_576,
    maxOutputTokens: 32_768,
  },
  {
    id: 'gpt-4o',
    name: 'GPT-4o',
    inputUsdPerMillionTokens: 2.5,
    cachedInputUsdPerMillionTokens: 1.25,
    outputUsdPerMillionTokens: 10,
    contextWindowTokens: 128_000,
    maxOutputTokens: 16_384,
  },
  {
    id: 'gpt-4o-mini',
    name: 'GPT-4o mini',
    inputUsdPerMillionTokens: 0.15,
    cachedInputUsdPerMillionTokens: 0.075,
    outputUsdPerMillionTokens: 0.6,
    contextWindowTokens: 128_000,
    maxOutputTokens: 16_384,
  },
  {
    id: 'gpt-5',
    name: 'GPT-5',
    inputUsdPerMillionTokens: 1.25,
    cachedInputUsdPerMillionTokens: 0.125,
    outputUsdPerMillionTokens: 10,
    contextWindowTokens: 400_000,
    maxOutputTokens: 128_000,
  },
  {
    id: 'gpt-5-mini',
    name: 'GPT-5 mini',
    inputUsdPerMillionTokens: 0.25,
    cachedInputUsdPerMillionTokens: 0.025,
    outputUsdPerMillionTokens: 2,
    contextWindowTokens: 400_000,
    maxOutputTokens: 128_000,
  },
  {
    id: 'gpt-5-nano',
    name: 'GPT-5 nano',
    inputUsdPerMillionTokens: 0.05,
    cachedInputUsdPerMillionTokens: 0.005,
    outputUsdPerMillionTokens: 0.4,
    contextWindowTokens: 400_000,
    maxOutputTokens: 128_000,
  },
];

function toCatalogModel(entry: z.output<typeof modelEntrySchema>): CatalogModel {
  return {
    id: entry.id,
    name: entry.name ?? entry.id,
    provider: entry.provider,
    inputMicrosPerMillion: usdToMicros(entry.inputUsdPerMillionTokens),
    // A provider without a cached-input discount bills cached tokens as input tokens.
    cachedInputMicrosPerMillion: usdToMicros(
      entry.cachedInputUsdPerMillionTokens ?? entry.inputUsdPerMillionTokens,
    ),
    outputMicrosPerMillion: usdToMicros(entry.outputUsdPerMillionTokens),
    contextWindowTokens: entry.contextWindowTokens,
    maxOutputTokens: entry.maxOutputTokens,
  };
}

/** Builds the catalog from the defaults and the (already JSON-parsed) override; throws on a bad override. */
export function createModelCatalog(override?: unknown): ModelCatalog {
  const byId = new Map<string, CatalogModel>();
  let replaceDefaults = false;
  let extra: z.output<typeof modelEntrySchema>[] = [];
  if (override !== undefined) {
    const parsed = modelCatalogOverrideSchema.safeParse(override);
    if (!parsed.success) {
      const detail = parsed.error.issues.map(
        (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
      );
      throw new Error(`MCPSTACK_MODEL_CATALOG is invalid: ${detail.join('; ')}`);
    }
    if (Array.isArray(parsed.data)) extra = parsed.data;
    else {
      extra = parsed.data.models;
      replaceDefaults = parsed.data.replaceDefaults;
    }
  }
  if (!replaceDefaults) {
    for (const entry of defaults) byId.set(entry.id, toCatalogModel(modelEntrySchema.parse(entry)));
  }
  for (const entry of extra) byId.set(entry.id, toCatalogModel(entry));
  const models = [...byId.values()];
  const first = models[0];
  if (!first) throw new Error('MCPSTACK_MODEL_CATALOG is invalid: it leaves no model to offer');
  return {
    models,
    defaultModelId: byId.has('gpt-4.1-mini') ? 'gpt-4.1-mini' : first.id,
    get: (id) => byId.get(id),
  };
}
