import { z } from 'zod';

/** What Redis is sent in ARGV: numbers go as their decimal text. */
export type ScriptArgument = string | number;

/** One call's KEYS and ARGV, in the order the script's header lists them. */
export interface ScriptCall {
  keys: string[];
  args: ScriptArgument[];
}

/**
 * A Lua script as an API: its file (beside its wrapper), the one place that knows the positions of
 * its KEYS and ARGV (`encode`, from named keys and arguments), and the schema of what it may reply.
 * A reply outside the schema is refused (a script and its wrapper disagree: a bug), never cast.
 */
export interface ScriptDefinition<Keys, Args, Reply> {
  file: string;
  /** How many KEYS it takes, or 'any' for a script that takes as many as the caller names. */
  keyCount: number | 'any';
  encode(keys: Keys, args: Args): ScriptCall;
  /** Built once, with the module: a call only runs it. */
  reply: z.ZodType<Reply>;
}

export function defineScript<Keys, Args, Reply>(
  definition: ScriptDefinition<Keys, Args, Reply>,
): ScriptDefinition<Keys, Args, Reply> {
  return definition;
}

/** The typed call of a script: named keys and arguments in, its parsed reply out. */
export type ScriptRunner<Definition> =
  Definition extends ScriptDefinition<infer Keys, infer Args, infer Reply>
    ? (keys: Keys, args: Args) => Promise<Reply>
    : never;

/** An amount in micro-USD, as Redis answers a Lua number (an integer). */
export const micros = z.number();

/** A script's 1 (done) or 0 (refused, nothing changed), as a boolean. */
export const doneReply = z.union([z.literal(1), z.literal(0)]).transform((reply) => reply === 1);

/**
 * Replies that are their status alone ({"duplicate"}, {"gone"}): one object type per status, so a
 * caller's `reply.status === 'gone'` narrows.
 */
export function statusReply<const Status extends string>(...statuses: [Status, ...Status[]]) {
  return z
    .tuple([z.enum(statuses)])
    .transform(([status]) => ({ status }) as Status extends unknown ? { status: Status } : never);
}
