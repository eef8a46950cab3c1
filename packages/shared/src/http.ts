/**
 * The small HTTP server every service runs: `/metrics`, `/healthz`, `/readyz`, plus its own routes.
 *
 * @module
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express, { type Express } from 'express';
import type { Registry } from 'prom-client';
import type { Logger } from './logger';

export interface ServiceHttpOptions {
  /** Port to listen on; 0 picks a free one (see {@link ServiceHttp.port}). */
  port: number;
  /** The environment variable that sets `port`, named in the error when the port is taken. */
  portVariable: string;
  /** Address to bind. Default: all interfaces. */
  host?: string;
  /** Served on `/metrics`. */
  registry: Registry;
  /**
   * Readiness for `/readyz` (200 when true, 503 otherwise; a throw counts as not ready).
   * Typically "Kafka consumer joined and database reachable".
   */
  ready: () => boolean | Promise<boolean>;
  /** Adds the service's own routes (mock-api's `/api/v1/...`). Called before the built-in ones. */
  routes?: (app: Express) => void;
  logger: Logger;
}

export interface ServiceHttp {
  app: Express;
  server: Server;
  /** The port actually bound (differs from the option when it was 0). */
  port: number;
  /** Stops accepting connections, closes idle keep-alive ones, resolves when all are closed. */
  close(): Promise<void>;
}

/**
 * Starts the service's HTTP server and resolves once it listens.
 *
 * - `GET /healthz` → 200 `{"status":"ok"}` while the process is alive.
 * - `GET /readyz` → 200 `{"status":"ready"}` when `ready()` is true, else 503 `{"status":"not ready"}`.
 * - `GET /metrics` → the registry in Prometheus text format.
 *
 * @throws Error `port 8081 is already in use; set SCHEDULER_HTTP_PORT to a free port` when the
 *   port is taken (and similarly for other listen errors, e.g. EACCES).
 */
export async function startServiceHttp(options: ServiceHttpOptions): Promise<ServiceHttp> {
  const { port, portVariable, host, registry, ready, routes, logger } = options;
  const app = express();
  app.disable('x-powered-by');

  routes?.(app);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    let ok = false;
    try {
      ok = await ready();
    } catch (err) {
      logger.debug({ err }, 'readiness check threw');
    }
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'not ready' });
  });

  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', registry.contentType);
    res.end(await registry.metrics());
  });

  const server = await new Promise<Server>((resolve, reject) => {
    const s = host === undefined ? app.listen(port) : app.listen(port, host);
    // Express 5 passes listen errors to the callback; listening on 'error'/'listening' directly
    // keeps this independent of that.
    s.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, port, portVariable)));
    s.once('listening', () => resolve(s));
  });

  const bound = (server.address() as AddressInfo).port;
  logger.info({ port: bound }, `http listening on :${bound} (/metrics, /healthz, /readyz)`);

  return {
    app,
    server,
    port: bound,
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (!server.listening) return resolve();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      }),
  };
}

function listenError(err: NodeJS.ErrnoException, port: number, portVariable: string): Error {
  const fix = `set ${portVariable} to a free port`;
  switch (err.code) {
    case 'EADDRINUSE':
      return new Error(`port ${port} is already in use; ${fix}`, { cause: err });
    case 'EACCES':
      return new Error(`no permission to listen on port ${port}; ${fix} above 1023`, { cause: err });
    default:
      return new Error(`cannot listen on port ${port} (${err.code ?? err.message}); check ${portVariable}`, {
        cause: err,
      });
  }
}
