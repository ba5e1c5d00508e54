import { z } from 'zod';
import { ApiError } from './errors.ts';

/**
 * Parses one part of a request; a failure is a 400 `validation_failed` whose message names each
 * field and why, e.g. `body.allowedOrigins[0]: must be an origin like https://example.com`.
 */
export function parseInput<T extends z.ZodType>(
  schema: T,
  value: unknown,
  part: 'body' | 'query' | 'params',
): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    path: formatPath(part, issue.path),
    message: describeIssue(issue),
  }));
  throw new ApiError(
    'validation_failed',
    issues.map((issue) => `${issue.path}: ${issue.message}`).join('; '),
    { issues },
  );
}

function formatPath(part: string, path: readonly PropertyKey[]): string {
  let out = part;
  for (const segment of path) out += typeof segment === 'number' ? `[${segment}]` : `.${String(segment)}`;
  return out;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys')
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((key) => `"${key}"`).join(', ')}`;
  if (issue.code === 'invalid_type' && issue.input === undefined) return 'is required';
  return issue.message;
}

/** A page's `limit` query parameter: 1-500, 50 by default; `items` names what a page holds. */
export const pageLimit = (items: string) =>
  z.coerce.number().int().min(1).max(500).default(50).describe(`${items} per page, 1-500 (default 50).`);
