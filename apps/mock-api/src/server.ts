import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { isSampled, type Registry } from '@mockstagram/shared';
import { propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { handleAdmin, sendJson, type AdminLogger } from './admin';
import { countsAtBucket, DEFAULT_COUNTS_OPTIONS, suspiciousIds, type CountsOptions } from './counts';
import { Faults } from './faults';
import { NO_METRICS, type MockApiMetrics } from './metrics';

/**
 * The Mockstagram HTTP server, on plain `node:http` because it is polled at a very high rate.
 *
 * Routes (one port):
 * - `GET /api/v1/influencers/:id` the API (hand-routed, string ops only, no express)
 * - `GET|PUT|DELETE /admin/faults` fault injection settings (see src/admin.ts)
 * - `GET /admin/suspicious[?from=&to=]` the ids that buy followers (ground truth for tests and
 *   benchmarks of suspicious detection; the detector never reads it)
 * - `GET /metrics` Prometheus text from the given registry
 * - `GET /healthz` 200 while the process runs; `GET /readyz` 200 while listening, 503 when closing
 *
 * /metrics, /healthz and /readyz are served here rather than by the shared express-based
 * service HTTP server: that one owns its own listener, and the API and these routes share the
 * port (3001) so that Prometheus and the fetchers reach the same process.
 */

export const API_PREFIX = '/api/v1/influencers/';

/** The mock API's tracer (its instrumentation scope is the service name). */
const tracer = trace.getTracer('mock-api');

export interface MockApiOptions {
  /** Smallest influencer id that exists (inclusive). */
  idMin: number;
  /** Largest influencer id that exists (inclusive). */
  idMax: number;
  /** Options of the deterministic counts; missing ones take DEFAULT_COUNTS_OPTIONS. */
  counts?: Partial<CountsOptions>;
  /** Fault settings; default: a `Faults` with none. */
  faults?: Faults;
  /** Registry served on /metrics; without one /metrics answers 404. */
  registry?: Registry;
  /** Request metrics; default: none. */
  metrics?: MockApiMetrics;
  logger?: AdminLogger & { warn(obj: object, msg: string): void };
  /** Clock, Unix milliseconds (tests may pin it). Default Date.now. */
  now?: () => number;
  /** Keep-alive idle timeout, ms. Default 65,000 (longer than the usual client pools' idle time). */
  keepAliveTimeoutMs?: number;
}

/** Thrown by {@link MockApiServer.listen} when the port is taken. */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  constructor(readonly port: number) {
    super(`port ${port} is already in use`);
  }
}

const JSON_TYPE = 'application/json; charset=utf-8';
const MAX_ID_DIGITS = 16; // Number.MAX_SAFE_INTEGER has 16 digits

export class MockApiServer {
  readonly server: http.Server;
  readonly faults: Faults;

  private readonly idMin: number;
  private readonly idMax: number;
  private readonly counts: CountsOptions;
  private readonly bucketMs: number;
  private readonly metrics: MockApiMetrics;
  private readonly now: () => number;
  private readonly hung = new Set<ServerResponse>();
  private closing = false;
  private closed: Promise<void> | undefined;

  constructor(private readonly options: MockApiOptions) {
    if (!(
      Number.isSafeInteger(options.idMin) &&
      Number.isSafeInteger(options.idMax) &&
      options.idMin >= 1 &&
      options.idMin <= options.idMax
    )) {
      throw new RangeError(
        `id range must be positive integers with idMin <= idMax, got ${options.idMin}..${options.idMax}`,
      );
    }
    this.idMin = options.idMin;
    this.idMax = options.idMax;
    this.counts = { ...DEFAULT_COUNTS_OPTIONS, ...options.counts };
    this.bucketMs = this.counts.bucketSeconds * 1000;
    this.faults = options.faults ?? new Faults();
    this.metrics = options.metrics ?? NO_METRICS;
    this.now = options.now ?? Date.now;

    this.server = http.createServer(this.onRequest);
    this.server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 65_000;
    // headersTimeout must exceed keepAliveTimeout, or Node may drop a reused socket mid-request.
    this.server.headersTimeout = this.server.keepAliveTimeout + 5_000;
    // A hung request is answered never: do not let the server's request timeout answer it.
    this.server.requestTimeout = 0;
  }

  /** Starts listening; port 0 picks a free one. Rejects with {@link PortInUseError} when taken. */
  listen(port: number, host?: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        this.server.off('listening', onListening);
        reject(err.code === 'EADDRINUSE' ? new PortInUseError(port) : err);
      };
      const onListening = () => {
        this.server.off('error', onError);
        resolve(this.server.address() as AddressInfo);
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      this.server.listen(port, host);
    });
  }

  /** True while listening and not shutting down. */
  get ready(): boolean {
    return this.server.listening && !this.closing;
  }

  /**
   * Stops accepting connections, ends idle keep-alive sockets, drops hung requests, lets
   * in-flight answers finish (their sockets close after them) for at most `graceMs`, then
   * destroys whatever is left. Idempotent.
   */
  close(graceMs = 5_000): Promise<void> {
    if (this.closed) return this.closed;
    this.closing = true;
    this.closed = new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.server.closeAllConnections(), graceMs);
      timer.unref();
      this.server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      this.server.closeIdleConnections();
      for (const res of this.hung) res.socket?.destroy();
      this.hung.clear();
    });
    return this.closed;
  }

  // -------------------------------------------------------------------------------------------

  /** `GET /admin/suspicious?from=&to=`: the suspicious ids in from..to (default: the whole id range). */
  private handleSuspicious(req: IncomingMessage, res: ServerResponse, query: string): void {
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      sendJson(res, 405, {
        error: 'method_not_allowed',
        message: `${req.method} is not allowed on /admin/suspicious; use GET`,
      });
      return;
    }
    const params = new URLSearchParams(query);
    const bound = (name: 'from' | 'to', fallback: number): number | string => {
      const raw = params.get(name);
      if (raw === null) return fallback;
      const n = Number(raw);
      return /^[0-9]{1,16}$/.test(raw) && n >= this.idMin && n <= this.idMax
        ? n
        : `${name} must be an id within ${this.idMin}..${this.idMax}, got "${raw}"`;
    };
    const from = bound('from', this.idMin);
    const to = bound('to', this.idMax);
    if (typeof from === 'string' || typeof to === 'string' || from > to) {
      const message =
        typeof from === 'string' ? from : typeof to === 'string' ? to : `from (${from}) must not be above to (${to})`;
      sendJson(res, 400, { error: 'bad_request', message });
      return;
    }
    sendJson(res, 200, {
      from,
      to,
      seed: this.counts.seed,
      suspiciousShare: this.counts.suspiciousShare,
      ids: suspiciousIds(from, to, this.counts),
    });
  }

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    if (this.closing) res.shouldKeepAlive = false;
    if (url.startsWith(API_PREFIX)) {
      this.handleApi(req, res, url);
      return;
    }
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path === '/admin/suspicious') {
      this.handleSuspicious(req, res, q < 0 ? '' : url.slice(q + 1));
      return;
    }
    if (path.startsWith('/admin/')) {
      handleAdmin(req, res, path, this.faults, this.options.logger);
      return;
    }
    switch (path) {
      case '/healthz':
        sendJson(res, 200, { status: 'ok' });
        return;
      case '/readyz':
        if (this.ready) sendJson(res, 200, { status: 'ready' });
        else sendJson(res, 503, { status: 'closing' });
        return;
      case '/metrics':
        this.serveMetrics(res);
        return;
      default:
        sendJson(res, 404, { error: 'not_found', message: `no route ${path}; the API is GET ${API_PREFIX}:id` });
    }
  };

  private handleApi(req: IncomingMessage, res: ServerResponse, url: string): void {
    const start = performance.now();
    if (req.headers.traceparent !== undefined) traceRequest(req, res, url);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      this.sendError(res, 405, start, 'method_not_allowed', `${req.method} is not allowed; use GET`);
      return;
    }
    if (!this.faults.isActive) {
      this.answer(req, res, url, start, false);
      return;
    }
    const plan = this.faults.plan();
    if (plan.hang) {
      this.metrics.fault('hang');
      this.hung.add(res);
      res.once('close', () => this.hung.delete(res));
      return; // never answered: the client gives up, or close() destroys the socket
    }
    const act = () => {
      switch (plan.outcome) {
        case 'error':
          this.metrics.fault('error');
          this.sendError(res, 500, start, 'internal_error', 'injected fault: internal server error');
          return;
        case 'rateLimit':
          this.metrics.fault('rateLimit');
          res.setHeader('retry-after', String(this.faults.get().retryAfterSeconds));
          this.sendError(res, 429, start, 'rate_limited', 'injected fault: too many requests');
          return;
        default:
          this.answer(req, res, url, start, plan.outcome === 'malformed');
      }
    };
    if (plan.delayMs > 0) {
      this.metrics.fault('latency');
      const timer = setTimeout(() => {
        if (!res.destroyed) act();
      }, plan.delayMs);
      res.once('close', () => clearTimeout(timer));
      return;
    }
    act();
  }

  /** The real answer: 400 / 404 / 200 with the deterministic counts. */
  private answer(req: IncomingMessage, res: ServerResponse, url: string, start: number, malformed: boolean): void {
    const q = url.indexOf('?', API_PREFIX.length);
    const end = q < 0 ? url.length : q;
    const digits = end - API_PREFIX.length;
    let valid = digits > 0 && digits <= MAX_ID_DIGITS;
    for (let i = API_PREFIX.length; valid && i < end; i++) {
      const c = url.charCodeAt(i);
      if (c < 48 || c > 57) valid = false;
    }
    const id = valid ? Number(url.slice(API_PREFIX.length, end)) : NaN;
    if (!(id >= 1 && id <= Number.MAX_SAFE_INTEGER)) {
      const raw = url.slice(API_PREFIX.length, end);
      this.sendError(
        res,
        400,
        start,
        'invalid_id',
        `influencer id must be a positive integer, got ${JSON.stringify(safeDecode(raw))}`,
      );
      return;
    }
    if (id < this.idMin || id > this.idMax) {
      this.sendError(
        res,
        404,
        start,
        'not_found',
        `influencer ${id} does not exist (ids are ${this.idMin}..${this.idMax})`,
      );
      return;
    }
    // The Date header comes from the same clock reading as the counts (buckets are whole seconds),
    // so a client that records the Date header as the observation time can recompute these counts.
    const now = this.now();
    const c = countsAtBucket(id, Math.floor(now / this.bucketMs), this.counts);
    // username is [a-z_0-9] only: no escaping needed.
    let body = `{"pk":${id},"username":"${c.username}","followerCount":${c.followerCount},"followingCount":${c.followingCount}}`;
    if (malformed) {
      this.metrics.fault('malformed');
      body = body.slice(0, body.length >> 1); // cut mid-object: never valid JSON
    }
    res.writeHead(200, ['content-type', JSON_TYPE, 'content-length', String(body.length), 'date', this.httpDate(now)]);
    if (req.method === 'HEAD') res.end();
    else res.end(body);
    this.metrics.answered(200, (performance.now() - start) / 1000);
  }

  private dateSecond = -1;
  private dateText = '';

  /** RFC 7231 date of `ms`, formatted once per second. */
  private httpDate(ms: number): string {
    const second = Math.floor(ms / 1000);
    if (second !== this.dateSecond) {
      this.dateSecond = second;
      this.dateText = new Date(second * 1000).toUTCString();
    }
    return this.dateText;
  }

  private sendError(res: ServerResponse, status: number, start: number, error: string, message: string): void {
    sendJson(res, status, { error, message });
    this.metrics.answered(status, (performance.now() - start) / 1000);
  }

  private serveMetrics(res: ServerResponse): void {
    const registry = this.options.registry;
    if (!registry) {
      sendJson(res, 404, { error: 'not_found', message: 'no metrics registry configured' });
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(text) });
        res.end(text);
      },
      (err: Error) => {
        this.options.logger?.warn({ err }, 'collecting metrics failed');
        sendJson(res, 500, { error: 'metrics_failed', message: err.message });
      },
    );
  }
}

/**
 * A SERVER span for an API request whose `traceparent` (set by the fetcher's HTTP client span)
 * says its trace is sampled: `GET /api/v1/influencers/:id`, ending when the response is done, so
 * a job's trace shows the server's share of the call. Requests without it (wrk, curl) or from
 * unsampled traces cost one header lookup.
 */
function traceRequest(req: IncomingMessage, res: ServerResponse, url: string): void {
  const parent = propagation.extract(ROOT_CONTEXT, req.headers);
  const parentSpan = trace.getSpanContext(parent);
  if (parentSpan === undefined || !isSampled(parentSpan)) return;
  const q = url.indexOf('?');
  const span = tracer.startSpan(
    `${req.method} /api/v1/influencers/:id`,
    {
      kind: SpanKind.SERVER,
      attributes: {
        'http.request.method': req.method ?? 'GET',
        'http.route': '/api/v1/influencers/:id',
        'url.path': q < 0 ? url : url.slice(0, q),
        'server.port': req.socket.localPort ?? 0,
      },
    },
    parent,
  );
  res.once('close', () => {
    span.setAttribute('http.response.status_code', res.statusCode);
    if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    if (!res.writableFinished)
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'connection closed before the response was sent' });
    span.end();
  });
}

function safeDecode(raw: string): string {
  try {
    return decodeURIComponent(raw).slice(0, 100);
  } catch {
    return raw.slice(0, 100);
  }
}
