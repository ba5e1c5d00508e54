/**
 * `@mcpstack/agent-sdk`: the embeddable chat widget. This package holds its skeleton until the
 * widget lands; the public surface will be exported from this file only.
 */
export const sdkVersion = '0.1.0';
