/**
 * Which influencers a request is about: a list of ids or an inclusive range, validated with zod.
 * The HTTP API and the CLI both end up here, so they accept and reject the same things with the
 * same messages.
 *
 * @module
 */
import { z } from 'zod';

/** Largest range one request may name (a typo like `1-1000000000000` should fail, not run for hours). */
export const MAX_RANGE_SIZE = 10_000_000;
/** Largest id list one request may carry. */
export const MAX_IDS = 1_000_000;
/** Longest fetch interval accepted: one week. */
export const MAX_INTERVAL_SECONDS = 7 * 24 * 3600;

/** A message for a wrong type only; other issues (e.g. unknown keys) keep zod's own message. */
const onlyType = (message: string) => (issue: { code?: string }) =>
  issue.code === 'invalid_type' ? message : undefined;

const influencerId = z
  .int({ error: 'an influencer id must be a positive integer' })
  .positive({ error: 'an influencer id must be a positive integer' })
  .max(Number.MAX_SAFE_INTEGER, { error: 'an influencer id must be at most 2^53-1' });

export const IdRangeSchema = z
  .object({ from: influencerId, to: influencerId }, { error: onlyType('range must be an object { from, to }') })
  .strict()
  .refine((r) => r.from <= r.to, { error: 'range.from must be <= range.to' })
  .refine((r) => r.to - r.from < MAX_RANGE_SIZE, {
    error: `a range may hold at most ${MAX_RANGE_SIZE.toLocaleString('en')} ids; split it`,
  });

/** `{ ids: [...] }` or `{ range: { from, to } }`. */
export type Selection = { ids: number[] } | { range: { from: number; to: number } };

const selectionFields = {
  ids: z
    .array(influencerId, { error: 'ids must be an array of influencer ids' })
    .min(1, { error: 'ids must not be empty' })
    .max(MAX_IDS, { error: `at most ${MAX_IDS.toLocaleString('en')} ids per request; use a range or split the list` })
    .optional(),
  range: IdRangeSchema.optional(),
};

function exactlyOne(value: { ids?: number[]; range?: { from: number; to: number } }, ctx: z.RefinementCtx): void {
  if ((value.ids === undefined) === (value.range === undefined)) {
    ctx.addIssue({
      code: 'custom',
      message: 'give either "ids" (a list) or "range" ({ from, to }), not both and not neither',
    });
  }
}

function toSelection(value: { ids?: number[]; range?: { from: number; to: number } }): Selection {
  return value.ids !== undefined ? { ids: value.ids } : { range: value.range! };
}

/** Body of `POST /influencers`: a selection plus how to schedule it. */
export const RegisterRequestSchema = z
  .object(
    {
      ...selectionFields,
      /** Fetch interval for these influencers; default: the scheduler's `SCHEDULER_DEFAULT_INTERVAL_SECONDS` (kept for known ones). */
      intervalSeconds: z
        .int({ error: 'intervalSeconds must be a whole number of seconds' })
        .positive({ error: 'intervalSeconds must be > 0' })
        .max(MAX_INTERVAL_SECONDS, { error: `intervalSeconds must be at most ${MAX_INTERVAL_SECONDS} (one week)` })
        .optional(),
      /** Spread first fetches over one interval (default true); false makes them due now. */
      spread: z.boolean({ error: 'spread must be true or false' }).optional(),
    },
    { error: onlyType('the body must be a JSON object') },
  )
  .strict()
  .superRefine(exactlyOne)
  .transform((v) => ({ selection: toSelection(v), intervalSeconds: v.intervalSeconds, spread: v.spread ?? true }));
export type RegisterRequest = z.output<typeof RegisterRequestSchema>;

/** Body of `POST /influencers/deactivate` and `POST /influencers/activate`. */
export const SetActiveRequestSchema = z
  .object(
    { ...selectionFields, spread: z.boolean({ error: 'spread must be true or false' }).optional() },
    { error: onlyType('the body must be a JSON object') },
  )
  .strict()
  .superRefine(exactlyOne)
  .transform((v) => ({ selection: toSelection(v), spread: v.spread ?? true }));
export type SetActiveRequest = z.output<typeof SetActiveRequestSchema>;

/** `:id` in a URL. */
export const IdParamSchema = z
  .string()
  .regex(/^[1-9][0-9]{0,15}$/, { error: 'the id must be a positive integer' })
  .transform(Number)
  .pipe(influencerId);

/** One line per problem: `ids.2: an influencer id must be a positive integer`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

/** How many ids a selection names. */
export function selectionSize(selection: Selection): number {
  return 'ids' in selection ? new Set(selection.ids).size : selection.range.to - selection.range.from + 1;
}
