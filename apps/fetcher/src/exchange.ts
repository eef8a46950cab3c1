/**
 * One HTTP request/response on an undici dispatcher, as a promise of the few things the fetcher
 * reads: status, `Date`, `Retry-After` and the body as text.
 *
 * It is an undici dispatch handler (`Dispatcher.dispatch(options, handler)`, the handler
 * interface with `onRequestStart` / `onResponseStart` / `onResponseData` / `onResponseEnd` /
 * `onResponseError`). `Pool.request()` builds a Readable body stream, an abort signal listener
 * and several promises per request; this handler collects the (small) body into a string and
 * settles one promise (what that saves: docs/performance.md, "The fetcher's HTTP client").
 *
 * @module
 */
import type { Dispatcher } from 'undici';

/** What the fetcher needs from one answer. */
export interface Answer {
  status: number;
  /** The `Date` response header, if any. */
  date: string | undefined;
  /** The `Retry-After` response header, if any. */
  retryAfter: string | undefined;
  body: string;
}

type Controller = Dispatcher.DispatchController;

/**
 * Handler for one dispatch; `answer` settles when the response ended (or failed). `abort(reason)`
 * cancels it (before or after it started): `answer` then rejects with `reason`.
 *
 * @example
 * const exchange = new Exchange();
 * pool.dispatch({ method: 'GET', path: '/api/v1/influencers/1', headersTimeout: 2000, bodyTimeout: 2000 }, exchange);
 * const { status, body } = await exchange.answer;
 */
export class Exchange implements Dispatcher.DispatchHandler {
  readonly answer: Promise<Answer>;
  /** The response status once headers arrived (for spans), else undefined. */
  status: number | undefined;

  private resolve!: (answer: Answer) => void;
  private reject!: (err: unknown) => void;
  private controller: Controller | undefined;
  private aborted: { reason: unknown } | undefined;
  private date: string | undefined;
  private retryAfter: string | undefined;
  private chunks: Buffer[] = [];

  constructor() {
    this.answer = new Promise<Answer>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = { reason };
    this.controller?.abort(asError(reason));
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller;
    if (this.aborted) controller.abort(asError(this.aborted.reason));
  }

  onResponseStart(
    _controller: Controller,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    this.status = statusCode;
    this.date = single(headers.date);
    this.retryAfter = single(headers['retry-after']);
  }

  onResponseData(_controller: Controller, chunk: Buffer): void {
    this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    const { chunks } = this;
    const body = chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8');
    this.resolve({ status: this.status!, date: this.date, retryAfter: this.retryAfter, body });
  }

  onResponseError(_controller: Controller, err: Error): void {
    this.reject(this.aborted ? this.aborted.reason : err);
  }
}

function asError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
