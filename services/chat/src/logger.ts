import { type DestinationStream, type Logger, pino } from 'pino';

/**
 * Paths pino censors wherever they appear in a log object. The code never logs headers or bodies;
 * this is the net under that rule, so a careless `logger.info({ request })` leaks nothing.
 */
export const redactedPaths = [
  'authorization',
  '*.authorization',
  '*.*.authorization',
  'headers',
  '*.headers',
  'x-api-key',
  '*["x-api-key"]',
  '*.*["x-api-key"]',
  'fullKey',
  '*.fullKey',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'password',
  '*.password',
  'apiKey',
  '*.apiKey',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'mcpstack-chat' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: redactedPaths, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
