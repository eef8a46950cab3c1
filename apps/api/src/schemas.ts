/**
 * The API's inputs and outputs as zod schemas: inputs are parsed with them (a failure is a 400
 * naming the parameter), and the OpenAPI document's schemas are generated from the same objects
 * (src/openapi.ts), so the document cannot drift from what is validated and sent.
 *
 * @module
 */
import { z } from 'zod';

// ---------------------------------------------------------------------------------------------
// Inputs

/** A Mockstagram user id: a positive integer up to 2^53 - 1, digits only. */
export const idParam = z
  .string()
  .regex(/^[1-9][0-9]{0,15}$/, 'must be a positive integer (digits only), e.g. 1000042')
  .transform(Number)
  .refine(Number.isSafeInteger, 'must be at most 9007199254740991');

export const RESOLUTIONS = ['raw', '1m', '1h', '1d'] as const;
export type Resolution = (typeof RESOLUTIONS)[number];

/** The longest range each resolution serves (about 10,000 points at most). */
export const MAX_RANGE_SECONDS: Record<Resolution, number> = {
  raw: 7 * 86_400,
  '1m': 7 * 86_400,
  '1h': 400 * 86_400,
  '1d': 3660 * 86_400,
};

const isoTime = z.iso.datetime({
  offset: true,
  message: 'must be an ISO 8601 date-time with a time zone, e.g. 2026-12-01T00:00:00Z',
});

export const seriesQuery = z.strictObject({
  from: isoTime.optional().describe('start, inclusive; default: 24 hours before `to`'),
  to: isoTime.optional().describe('end, exclusive; default: now'),
  resolution: z
    .enum(RESOLUTIONS)
    .optional()
    .describe('raw, 1m, 1h or 1d; default: the finest one that serves the range'),
});

export const GROWTH_WINDOWS = { '1h': 3600, '24h': 86_400, '7d': 7 * 86_400, '30d': 30 * 86_400 } as const;
export type GrowthWindow = keyof typeof GROWTH_WINDOWS;

const limit = z.coerce
  .number({ message: 'must be a whole number from 1 to 500' })
  .int('must be a whole number from 1 to 500')
  .min(1, 'must be a whole number from 1 to 500')
  .max(500, 'must be a whole number from 1 to 500')
  .default(50)
  .describe('items per page, 1-500; default 50');
const cursor = z.string().min(1).max(200).optional().describe('the nextCursor of the previous page');

export const rankingsQuery = z.strictObject({
  by: z.enum(['followers', 'growth']).default('followers').describe('followers (rank) or growth over `window`'),
  window: z
    .enum(Object.keys(GROWTH_WINDOWS) as [GrowthWindow, ...GrowthWindow[]])
    .optional()
    .describe('for by=growth: 1h, 24h, 7d or 30d; default 24h'),
  limit,
  cursor,
});

export const suspiciousQuery = z.strictObject({ limit, cursor });

/** `/stats` takes no parameters; an unknown one is refused like anywhere else. */
export const statsQuery = z.strictObject({});

// ---------------------------------------------------------------------------------------------
// Outputs

const time = z.iso.datetime({ offset: true });
const ratio = z.number().nullable().describe('followers / following; null when following is 0');

export const errorBody = z
  .object({
    error: z.enum(['bad_request', 'not_found', 'unavailable', 'internal']),
    message: z.string(),
    issues: z.array(z.object({ parameter: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Error' });

export const suspicionBody = z
  .object({
    flaggedAt: time,
    score: z.number().describe('robust z-score of the largest hour-over-hour deviation'),
    reason: z.enum(['spike', 'erratic']),
  })
  .meta({ id: 'Suspicion' });

export const influencerBody = z
  .object({
    id: z.number().int(),
    username: z.string(),
    followerCount: z.number().int(),
    followingCount: z.number().int(),
    ratio,
    lastSeenAt: time.describe('time of the newest sample'),
    rank: z
      .number()
      .int()
      .nullable()
      .describe(
        '1 = most followers among influencers not suspicious (ties: smaller id first); null when suspicious or not ranked yet',
      ),
    rankedAt: time
      .nullable()
      .describe('when the rank snapshot was computed: rank is at most one refresh (1 minute by default) old'),
    suspicious: suspicionBody.nullable(),
    history: z
      .array(
        z.object({
          event: z.enum(['flagged', 'cleared']),
          at: time,
          score: z.number().nullable(),
          reason: z.enum(['spike', 'erratic']).nullable(),
        }),
      )
      .describe('the latest flags and clears, newest first (at most 20)'),
  })
  .meta({ id: 'Influencer' });

export const seriesBody = z
  .object({
    id: z.number().int(),
    resolution: z.enum(RESOLUTIONS),
    from: time,
    to: time,
    points: z.array(
      z.object({
        t: time.describe('sample time (raw) or bucket start'),
        followers: z.number().int(),
        following: z.number().int(),
        ratio,
      }),
    ),
  })
  .meta({ id: 'Series' });

export const statsBody = z
  .object({
    averageFollowers: z
      .number()
      .nullable()
      .describe('mean follower count of the influencers not suspicious; null when none'),
    tracked: z.number().int().describe('influencers with at least one sample'),
    ranked: z.number().int().describe('of those, not suspicious'),
    suspicious: z.number().int(),
    computedAt: time
      .nullable()
      .describe('when these figures were computed (the rank snapshot, at most one refresh old)'),
    newestSampleAt: time.nullable().describe('the newest sample stored, as of computedAt'),
  })
  .meta({ id: 'Stats' });

const followerItem = z.object({
  rank: z.number().int(),
  id: z.number().int(),
  username: z.string(),
  followerCount: z.number().int(),
  followingCount: z.number().int(),
  ratio,
  lastSeenAt: time,
});
const growthItem = z.object({
  position: z.number().int(),
  id: z.number().int(),
  username: z.string(),
  followerCount: z.number().int(),
  growth: z.number().int().describe('followers gained over the window (negative: lost)'),
  growthRate: z.number().nullable().describe('growth / followers at the start of the window'),
  lastSeenAt: time,
});

export const rankingsBody = z
  .object({
    by: z.enum(['followers', 'growth']),
    window: z.enum(Object.keys(GROWTH_WINDOWS) as [GrowthWindow, ...GrowthWindow[]]).nullable(),
    rankedAt: time.nullable().describe('by=followers: when the snapshot was computed; by=growth: null (computed live)'),
    items: z.array(z.union([followerItem, growthItem])),
    nextCursor: z.string().nullable(),
  })
  .meta({ id: 'Rankings' });

export const suspiciousBody = z
  .object({
    items: z.array(
      z.object({
        id: z.number().int(),
        username: z.string().nullable(),
        followerCount: z.number().int().nullable(),
        flaggedAt: time,
        score: z.number(),
        reason: z.enum(['spike', 'erratic']),
        details: z.record(z.string(), z.number().nullable()),
      }),
    ),
    nextCursor: z.string().nullable(),
  })
  .meta({ id: 'SuspiciousList' });

export type InfluencerBody = z.infer<typeof influencerBody>;
export type SeriesBody = z.infer<typeof seriesBody>;
export type StatsBody = z.infer<typeof statsBody>;
export type RankingsBody = z.infer<typeof rankingsBody>;
export type SuspiciousBody = z.infer<typeof suspiciousBody>;
export type ErrorBody = z.infer<typeof errorBody>;
