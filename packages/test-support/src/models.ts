/**
 * A catalog entry (for MCPSTACK_MODEL_CATALOG) priced almost only on output: the reservation (the
 * input's bytes plus slack at the input price, `maxOutputTokens` at the output price) is then within
 * a few percent of what an answer of the local model costs, so a cap is spent answer by answer. The
 * local model answers to any model name.
 */
export function outputPricedModel(id: string, outputUsdPerMillionTokens: number) {
  return {
    id,
    inputUsdPerMillionTokens: 0.01,
    cachedInputUsdPerMillionTokens: 0.01,
    outputUsdPerMillionTokens,
  };
}
