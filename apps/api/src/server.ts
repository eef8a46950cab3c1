/**
 * The api's HTTP server: the /api/v1 routes, the page at `/`, and the shared /metrics, /healthz
 * and /readyz (ready = the database answers).
 */
import type { Express } from 'express';
import { startServiceHttp, type ServiceHttp } from '@mockstagram/shared/http';
import type { Logger } from '@mockstagram/shared/logger';
import type { Registry } from '@mockstagram/shared/metrics';
import { createApiMetrics } from './metrics';
import { pageRoutes } from './page';
import { apiRouter } from './routes';
import type { Queryable } from './sql/types';

export interface ApiServerOptions {
  db: Queryable;
  /** 0 picks a free port. */
  port: number;
  host?: string;
  registry: Registry;
  logger: Logger;
  now?: () => number;
}

export async function startApiServer(options: ApiServerOptions): Promise<ServiceHttp> {
  const { db, registry, logger } = options;
  const metrics = createApiMetrics(registry);
  return startServiceHttp({
    port: options.port,
    portVariable: 'API_HTTP_PORT',
    ...(options.host === undefined ? {} : { host: options.host }),
    registry,
    logger,
    ready: async () => {
      await db.query('SELECT 1');
      return true;
    },
    routes: (app: Express) => {
      app.set('etag', 'weak');
      app.use('/api/v1', apiRouter({ db, metrics, logger, ...(options.now ? { now: options.now } : {}) }));
      pageRoutes(app);
    },
  });
}
