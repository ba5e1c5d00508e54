/** Exit codes: 0 ok, 1 the API refused (or could not be reached), 2 the command line was wrong. */
export const exitCodes = { ok: 0, refused: 1, usage: 2 } as const;

/** A wrong command line: a missing option, a bad value, no organization to act on. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The API answered with an error body `{ error: { code, message, status } }`, or not at all. */
export class ApiRefusal extends Error {
  override name = 'ApiRefusal';
  readonly code: string;
  /** The HTTP status, or null when the API could not be reached. */
  readonly status: number | null;
  constructor(code: string, message: string, status: number | null) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** The API answered, and what it said is a failure for the command (reconcile found differences). */
export class CommandFailure extends Error {
  override name = 'CommandFailure';
}
