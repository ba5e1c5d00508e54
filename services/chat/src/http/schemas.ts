import { z } from 'zod';
import { errorStatus } from '../errors.ts';
import { pageLimit } from '../validate.ts';

export const pageQuery = z
  .object({
    limit: pageLimit('Items'),
    cursor: z.string().max(200).optional().describe('The nextCursor of the previous page.'),
  })
  .strict();

export const page = <T extends z.ZodType>(item: T) =>
  z.object({ data: z.array(item), nextCursor: z.string().nullable() });

export const errorResponse = z.object({
  error: z
    .object({
      code: z.enum(Object.keys(errorStatus) as [keyof typeof errorStatus]),
      message: z.string(),
      status: z.number().int(),
      requestId: z.string().optional(),
    })
    .catchall(z.unknown()),
});

/** Path parameters are matched loosely and looked up; an unknown id is a 404, not a 400. */
export const idParam = z.string().min(1).max(100);
export const orgParams = z.object({ orgId: idParam });
export const agentParams = orgParams.extend({ agentId: idParam });

export const standardErrors = {
  400: {
    description: 'Invalid input (validation_failed, invalid_json, invalid_body, invalid_path_parameter, …)',
    schema: errorResponse,
  },
  401: { description: 'Not authenticated', schema: errorResponse },
  403: { description: 'The role lacks the permission', schema: errorResponse },
  404: { description: 'Not found (another organization’s resources are 404 too)', schema: errorResponse },
} as const;
