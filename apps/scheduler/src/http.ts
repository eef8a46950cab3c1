/**
 * The registry's HTTP API, mounted on the service port next to /metrics, /healthz and /readyz:
 *
 * - `POST /influencers` `{ ids: [..] }` or `{ range: { from, to } }`, optional `intervalSeconds`,
 *   `spread` → 200 `{ requested, inserted, updated, unchanged, durationMs }`
 * - `POST /influencers/deactivate` / `POST /influencers/activate`, same selection
 *   → 200 `{ requested, found, changed, durationMs }`
 * - `DELETE /influencers/:id` → 200 with the (now inactive) influencer, 404 when unknown
 * - `GET /influencers/:id` → 200 `{ id, username, active, fetchIntervalSeconds, nextFetchAt, createdAt, updatedAt }`, 404 when unknown
 *
 * Bad input → 400 `{ error: "<what is wrong>" }`.
 *
 * @module
 */
import express, { type ErrorRequestHandler, type Express, type Response } from 'express';
import type { Logger } from '@mockstagram/shared';
import type { InfluencerRegistry } from './registry';
import { describeIssues, IdParamSchema, RegisterRequestSchema, SetActiveRequestSchema } from './selection';

export interface InfluencerRoutesOptions {
  /** Called after a request changed the registry (e.g. `() => scheduler.refreshStats()`). */
  onChange?: () => void;
}

export function influencerRoutes(
  registry: InfluencerRegistry,
  logger: Logger,
  options: InfluencerRoutesOptions = {},
): (app: Express) => void {
  const changed = () => options.onChange?.();
  return (app) => {
    const router = express.Router();
    // 1,000,000 ids as JSON are ~8 MB.
    router.use(express.json({ limit: '16mb' }));

    router.post('/', async (req, res) => {
      const parsed = RegisterRequestSchema.safeParse(req.body);
      if (!parsed.success) return badRequest(res, describeIssues(parsed.error));
      const { selection, intervalSeconds, spread } = parsed.data;
      const result = await registry.register(selection, { intervalSeconds, spread });
      logger.info({ ...result, intervalSeconds, spread }, `registered ${result.requested} influencers`);
      changed();
      res.json(result);
    });

    for (const action of ['activate', 'deactivate'] as const) {
      router.post(`/${action}`, async (req, res) => {
        const parsed = SetActiveRequestSchema.safeParse(req.body);
        if (!parsed.success) return badRequest(res, describeIssues(parsed.error));
        const { selection, spread } = parsed.data;
        const result =
          action === 'activate' ? await registry.activate(selection, { spread }) : await registry.deactivate(selection);
        logger.info(result, `${action}d ${result.changed} influencers`);
        changed();
        res.json(result);
      });
    }

    router.get('/:id', async (req, res) => {
      const id = IdParamSchema.safeParse(req.params.id);
      if (!id.success) return badRequest(res, describeIssues(id.error));
      const row = await registry.get(id.data);
      if (!row) return notFound(res, id.data);
      res.json(row);
    });

    router.delete('/:id', async (req, res) => {
      const id = IdParamSchema.safeParse(req.params.id);
      if (!id.success) return badRequest(res, describeIssues(id.error));
      const result = await registry.deactivate({ ids: [id.data] });
      if (result.found === 0) return notFound(res, id.data);
      if (result.changed > 0) {
        logger.info({ influencer_id: id.data }, 'deactivated influencer');
        changed();
      }
      res.json(await registry.get(id.data));
    });

    const onError: ErrorRequestHandler = (
      err: { type?: string; status?: number; message?: string },
      _req,
      res,
      _next,
    ) => {
      if (err.type === 'entity.parse.failed') return badRequest(res, `the body is not valid JSON (${err.message})`);
      if (err.type === 'entity.too.large')
        return res
          .status(413)
          .json({ error: 'the body is too large (16 MB at most); split the request or use a range' });
      logger.error({ err }, 'influencer API request failed');
      res.status(500).json({ error: `internal error: ${err.message ?? String(err)}` });
    };
    router.use(onError);

    app.use('/influencers', router);
  };
}

function badRequest(res: Response, error: string): void {
  res.status(400).json({ error });
}

function notFound(res: Response, id: number): void {
  res.status(404).json({ error: `influencer ${id} is not registered` });
}
