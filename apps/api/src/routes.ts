/**
 * The API's routes under /api/v1 (express). Each handler: parse the input with its zod schema
 * (400 naming what is wrong), run one statement module from src/sql, shape the body, set the
 * cache headers. Unknown ids are 404; a database that cannot be reached is 503.
 *
 * Cache-Control: counts change once per polling interval and the rank snapshot once per refresh,
 * so latest/rank/stats/rankings may be cached 15 s, the suspicious list (daily) 60 s, and a
 * series whose range ended over an hour ago 5 minutes (late samples aside, it no longer
 * changes). Express adds a weak ETag, so a revalidation that finds the same body is a 304.
 *
 * @module
 */
import { performance } from 'node:perf_hooks';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { z } from 'zod';
import type { Logger } from '@mockstagram/shared';
import { decodeCursor, encodeCursor } from './cursor';
import type { ApiMetrics } from './metrics';
import { openApiDocument } from './openapi';
import {
  GROWTH_WINDOWS,
  idParam,
  rankingsQuery,
  seriesQuery,
  statsQuery,
  suspiciousQuery,
  type ErrorBody,
  type InfluencerBody,
  type RankingsBody,
  type SeriesBody,
  type StatsBody,
  type SuspiciousBody,
} from './schemas';
import { chooseSeriesRange } from './series-range';
import { getInfluencer } from './sql/getInfluencer';
import { getSeries } from './sql/getSeries';
import { getStats } from './sql/getStats';
import { listSuspicious } from './sql/listSuspicious';
import { listTopFollowers } from './sql/listTopFollowers';
import { listTopGrowers } from './sql/listTopGrowers';
import type { Queryable } from './sql/types';

export interface ApiRoutesOptions {
  db: Queryable;
  metrics: ApiMetrics;
  logger: Logger;
  /** Clock, Unix ms (tests may pin it). Default Date.now. */
  now?: () => number;
}

const HISTORY_LIMIT = 20;

/** Thrown by a handler for a 400 / 404; the error handler turns it into the JSON error body. */
class HttpError extends Error {
  constructor(
    readonly status: 400 | 404,
    message: string,
    readonly issues?: ErrorBody['issues'],
  ) {
    super(message);
  }
}

/** The /api/v1 router. */
export function apiRouter(options: ApiRoutesOptions): Router {
  const { db, metrics, logger } = options;
  const now = options.now ?? Date.now;
  const router = express.Router();

  router.use((req, res, next) => {
    const started = performance.now();
    res.on('finish', () => {
      const matched = (req.route as { path?: unknown } | undefined)?.path;
      const route = typeof matched === 'string' ? `/api/v1${matched}` : 'unmatched';
      metrics.answered(route, res.statusCode, (performance.now() - started) / 1000);
    });
    next();
  });

  router.get('/openapi.json', (_req, res) => {
    cache(res, 300);
    res.json(openApiDocument());
  });

  router.get('/influencers/:id', async (req, res) => {
    const id = parse(idParam, req.params.id, 'id');
    const row = await getInfluencer(db, id, HISTORY_LIMIT);
    if (!row) throw notFound(id);
    const body: InfluencerBody = {
      id: row.id,
      username: row.username,
      followerCount: row.followerCount,
      followingCount: row.followingCount,
      ratio: row.ratio,
      lastSeenAt: row.observedAt.toISOString(),
      rank: row.rank,
      rankedAt: row.rankedAt?.toISOString() ?? null,
      suspicious: row.flaggedAt
        ? { flaggedAt: row.flaggedAt.toISOString(), score: row.score!, reason: row.reason! }
        : null,
      history: row.history.map((e) => ({ event: e.event, at: e.at.toISOString(), score: e.score, reason: e.reason })),
    };
    cache(res, 15);
    res.json(body);
  });

  router.get('/influencers/:id/series', async (req, res) => {
    const id = parse(idParam, req.params.id, 'id');
    const query = parse(seriesQuery, req.query);
    const range = chooseSeriesRange(query, now());
    if (!range.ok) throw new HttpError(400, range.message, [{ parameter: range.parameter, message: range.message }]);
    const points = await getSeries(db, id, range.resolution, range.from, range.to);
    if (!points) throw notFound(id);
    const body: SeriesBody = {
      id,
      resolution: range.resolution,
      from: range.from.toISOString(),
      to: range.to.toISOString(),
      points: points.map((p) => ({ t: p.t, followers: p.followers, following: p.following, ratio: p.ratio })),
    };
    cache(res, range.to.getTime() < now() - 3_600_000 ? 300 : 15);
    res.json(body);
  });

  router.get('/stats', async (req, res) => {
    parse(statsQuery, req.query);
    const s = await getStats(db);
    const body: StatsBody = {
      averageFollowers: s.averageFollowers,
      tracked: s.tracked,
      ranked: s.ranked,
      suspicious: s.suspicious,
      computedAt: s.computedAt?.toISOString() ?? null,
      newestSampleAt: s.newestSampleAt?.toISOString() ?? null,
    };
    cache(res, 15);
    res.json(body);
  });

  router.get('/rankings', async (req, res) => {
    const query = parse(rankingsQuery, req.query);
    let body: RankingsBody;
    if (query.by === 'followers') {
      if (query.window !== undefined)
        throw badRequest('window', 'window applies to by=growth only; leave it out for by=followers');
      const afterRank = query.cursor === undefined ? 0 : Number(cursorValues('followers', query.cursor, 1)[0]);
      const [rows, stats] = await Promise.all([listTopFollowers(db, afterRank, query.limit), getStats(db)]);
      const last = rows.at(-1);
      body = {
        by: 'followers',
        window: null,
        rankedAt: stats.computedAt?.toISOString() ?? null,
        items: rows.map((r) => ({
          rank: r.rank,
          id: r.id,
          username: r.username,
          followerCount: r.followerCount,
          followingCount: r.followingCount,
          ratio: r.ratio,
          lastSeenAt: r.observedAt.toISOString(),
        })),
        nextCursor: rows.length === query.limit && last ? encodeCursor('followers', [last.rank]) : null,
      };
    } else {
      const window = query.window ?? '24h';
      const values = query.cursor === undefined ? undefined : cursorValues('growth', query.cursor, 3);
      const after = values ? { growth: Number(values[0]), id: Number(values[1]) } : undefined;
      const offset = values ? Number(values[2]) : 0;
      const rows = await listTopGrowers(db, GROWTH_WINDOWS[window], query.limit, after);
      const last = rows.at(-1);
      body = {
        by: 'growth',
        window,
        rankedAt: null,
        items: rows.map((r, i) => ({
          position: offset + i + 1,
          id: r.id,
          username: r.username,
          followerCount: r.followerCount,
          growth: r.growth,
          growthRate: r.growthRate,
          lastSeenAt: r.observedAt.toISOString(),
        })),
        nextCursor:
          rows.length === query.limit && last
            ? encodeCursor('growth', [last.growth, last.id, offset + rows.length])
            : null,
      };
    }
    cache(res, 15);
    res.json(body);
  });

  router.get('/suspicious', async (req, res) => {
    const query = parse(suspiciousQuery, req.query);
    const values = query.cursor === undefined ? undefined : cursorValues('suspicious', query.cursor, 2);
    const rows = await listSuspicious(
      db,
      query.limit,
      values ? { score: Number(values[0]), id: Number(values[1]) } : undefined,
    );
    const last = rows.at(-1);
    const body: SuspiciousBody = {
      items: rows.map((r) => ({
        id: r.id,
        username: r.username,
        followerCount: r.followerCount,
        flaggedAt: r.flaggedAt.toISOString(),
        score: r.score,
        reason: r.reason,
        details: r.details,
      })),
      nextCursor: rows.length === query.limit && last ? encodeCursor('suspicious', [last.score, last.id]) : null,
    };
    cache(res, 60);
    res.json(body);
  });

  router.use((req, _res, next) => {
    next(new HttpError(404, `no route ${req.method} /api/v1${req.path}; see /api/v1/openapi.json`));
  });

  router.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    res.set('Cache-Control', 'no-store');
    if (err instanceof HttpError) {
      const body: ErrorBody = {
        error: err.status === 400 ? 'bad_request' : 'not_found',
        message: err.message,
        ...(err.issues ? { issues: err.issues } : {}),
      };
      res.status(err.status).json(body);
      return;
    }
    const code = (err as { code?: string }).code;
    if (
      code === undefined ||
      /^(08|57P|53|ECONN|ETIMEDOUT|ENOTFOUND)/.test(code) ||
      (err as Error).message?.includes('timeout exceeded when trying to connect')
    ) {
      logger.warn({ err }, 'database unavailable');
      res
        .status(503)
        .json({ error: 'unavailable', message: 'the database is not reachable; retry shortly' } satisfies ErrorBody);
      return;
    }
    logger.error({ err }, 'request failed');
    res.status(500).json({ error: 'internal', message: 'internal error; see the api log' } satisfies ErrorBody);
  });

  return router;
}

function cache(res: Response, seconds: number): void {
  res.set('Cache-Control', `public, max-age=${seconds}`);
}

/** Parses `value` with `schema` or throws a 400 listing each problem with its parameter. */
function parse<S extends z.ZodType>(schema: S, value: unknown, parameter?: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => {
    const name =
      parameter ??
      (issue.path.length > 0
        ? issue.path.join('.')
        : issue.code === 'unrecognized_keys'
          ? issue.keys.join(', ')
          : 'query');
    const message =
      issue.code === 'unrecognized_keys' ? `unknown parameter(s) ${issue.keys.join(', ')}` : issue.message;
    return { parameter: name, message };
  });
  throw new HttpError(400, issues.map((i) => `${i.parameter}: ${i.message}`).join('; '), issues);
}

function cursorValues(kind: 'followers' | 'growth' | 'suspicious', cursor: string, arity: number): (number | string)[] {
  const decoded = decodeCursor(kind, cursor);
  if (!decoded.ok || decoded.values.length !== arity || decoded.values.some((v) => !Number.isFinite(Number(v)))) {
    throw badRequest(
      'cursor',
      decoded.ok
        ? `cursor is not a cursor of this list (${kind}); pass the nextCursor of the previous page, or leave it out for the first page`
        : decoded.message,
    );
  }
  return decoded.values;
}

function badRequest(parameter: string, message: string): HttpError {
  return new HttpError(400, `${parameter}: ${message}`, [{ parameter, message }]);
}

function notFound(id: number): HttpError {
  return new HttpError(
    404,
    `no influencer ${id}: nothing has been stored for it (is it registered? yarn workspace @mockstagram/scheduler register ${id})`,
  );
}
