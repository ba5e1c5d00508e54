/** The CLI's version, sent as its User-Agent and shown by `mcpstack --version`. */
export const version = '0.1.0';
