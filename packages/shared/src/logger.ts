/**
 * Structured logging: pino, one JSON object per line on stdout, `service` on every line.
 *
 * Trace correlation: the telemetry module (OpenTelemetry) registers a provider with
 * {@link setLogContextProvider}; from then on every line written while a span is active
 * carries `trace_id` and `span_id`. Loggers created before the registration pick it up too.
 * This module has no OpenTelemetry dependency.
 *
 * @module
 */
import os from 'node:os';
import pino from 'pino';
import type { LogLevel } from './config';

export type Logger = pino.Logger;

/** Returns extra fields for the current log line, e.g. `{ trace_id, span_id }`, or nothing. */
export type LogContextProvider = () => Record<string, unknown> | undefined;

let contextProvider: LogContextProvider | undefined;

/**
 * Registers the function that adds context to every log line of every logger (`undefined`
 * removes it). The telemetry setup registers `traceLogContext` (./tracing); services do not call it.
 */
export function setLogContextProvider(provider: LogContextProvider | undefined): void {
  contextProvider = provider;
}

/**
 * Creates the service's root logger. Lines look like
 * `{"level":"info","time":"2024-05-01T12:00:00.000Z","service":"fetcher","pid":1,"hostname":"h","msg":"..."}`.
 * Errors go under `err` (pino's serializer: type, message, stack).
 *
 * @param service  the service name, e.g. `fetcher`; written as `service` on every line.
 * @param level    minimum level (default `info`); `silent` disables logging.
 * @param destination  where to write (default: stdout). Tests pass a stream to capture lines.
 */
export function createLogger(service: string, level: LogLevel = 'info', destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service, pid: process.pid, hostname: os.hostname() },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    // pino merges each line's fields INTO the object the mixin returns, so it must be a new one.
    mixin: () => (contextProvider ? { ...contextProvider() } : {}),
  };
  return destination ? pino(options, destination) : pino(options);
}
