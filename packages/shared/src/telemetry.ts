/**
 * OpenTelemetry tracing for a service: {@link startTelemetry}, called by each app's
 * `src/telemetry.ts`, which is the FIRST import of its `src/main.ts`, so that instrumentations
 * that patch modules on load are in place before those modules are required.
 *
 * Import this module as `@mockstagram/shared/telemetry` (packages/shared/telemetry.ts), not through the package
 * index: the index loads pg, the Kafka client and express, which must come after the SDK has
 * started. The index does not re-export it either, so code that only needs `./tracing` does not
 * load the SDK.
 *
 * What it sets up (`NodeSDK`):
 * - Resource: `service.name` (`OTEL_SERVICE_NAME`, default the service), `service.version`,
 *   `deployment.environment.name` and its older name `deployment.environment`
 *   (`DEPLOYMENT_ENVIRONMENT`), plus the SDK's host and process attributes.
 * - Sampler from `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (see {@link createSampler}),
 *   built from the validated configuration rather than left to the SDK's own parsing.
 * - Export: OTLP over HTTP with protobuf bodies to `${OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces`
 *   (Jaeger takes OTLP natively; protobuf is smaller and cheaper to encode than JSON, and HTTP
 *   keeps `@grpc/grpc-js` out of the export path), through a batch processor
 *   ({@link BATCH_SPAN_PROCESSOR}). Without an endpoint, spans are created and dropped when they
 *   end: log lines still carry trace ids and context still crosses Kafka.
 * - W3C Trace Context propagation, AsyncLocalStorage context.
 * - Log correlation: log lines written inside a span get `trace_id` and `span_id`
 *   ({@link traceLogContext} registered with `setLogContextProvider`).
 * - No metrics or logs through OpenTelemetry (metrics are prom-client's, logs go to stdout).
 *
 * The `@opentelemetry/*` packages are pinned to the versions sdk-node itself depends on, so there
 * is one copy of each.
 *
 * @module
 */
import { diag, DiagLogLevel, trace, type Attributes, type Context, type Link, type SpanKind } from '@opentelemetry/api';
import { setGlobalErrorHandler, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK, type NodeSDKConfiguration } from '@opentelemetry/sdk-node';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  NoopSpanProcessor,
  ParentBasedSampler,
  SamplingDecision,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SamplingResult,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { z } from 'zod';
import { configOrExit, logEnv, telemetryEnv, type TracesSampler } from './config';
import { createLogger, setLogContextProvider, type Logger } from './logger';
import { isSampled, traceLogContext } from './tracing';

export { telemetryEnv };
export type TelemetryConfig = z.output<typeof telemetryEnv>;

/**
 * Batch span processor settings. A scheduler batch (`SCHEDULER_BATCH_SIZE`) ends that many
 * publish spans at once, so the queue is far larger than the SDK's default; when it is full anyway (the exporter cannot keep
 * up), new spans are dropped, never waited for. An export that takes longer than
 * `exportTimeoutMillis` is abandoned (Jaeger down must not hold spans or memory for long).
 */
export const BATCH_SPAN_PROCESSOR = {
  maxQueueSize: 32_768,
  maxExportBatchSize: 2_048,
  scheduledDelayMillis: 1_000,
  exportTimeoutMillis: 5_000,
} as const;

/**
 * Most links one span keeps (the SDK's default is 128). A result-handler batch insert links to
 * the sampled messages it stored, at most this many; `mockstagram.links_dropped` counts the rest.
 */
export const MAX_LINKS_PER_SPAN = 1_000;

/** How long {@link Telemetry.shutdown} waits for the last spans to be exported. */
export const SHUTDOWN_TIMEOUT_MS = 5_000;

export interface StartTelemetryOptions {
  /** The service, e.g. `fetcher`: the default `service.name` and the name of its tracer. */
  service: string;
  /** `service.version`: the app's package.json version. */
  version: string;
  /** Default: `telemetryEnv` (and `LOG_LEVEL`) read from `process.env`; an invalid value exits 2 naming it. */
  config?: TelemetryConfig;
  /** Instrumentations to enable (e.g. the fetcher's undici one). Default none. */
  instrumentations?: NodeSDKConfiguration['instrumentations'];
  /** Extra span processors, after the exporter's (tests pass an in-memory one). */
  spanProcessors?: SpanProcessor[];
  /** Where the SDK's own errors (failed exports) are logged. Default: a logger for the service at `LOG_LEVEL`. */
  logger?: Logger;
}

export interface Telemetry {
  readonly config: TelemetryConfig;
  /** Where spans go: the OTLP URL, or undefined when they are not exported. */
  readonly exportUrl: string | undefined;
  /**
   * Exports what is queued (waiting at most {@link SHUTDOWN_TIMEOUT_MS}) and stops the SDK.
   * Never rejects: spans that cannot be exported are logged as dropped. Idempotent.
   */
  shutdown(): Promise<void>;
}

/**
 * Starts tracing for the process (once). Call it before anything else is imported, from the
 * app's `src/telemetry.ts`; add `{ name: 'telemetry', run: () => telemetry.shutdown() }` as the
 * LAST shutdown step, so the spans of the final flush are exported too.
 */
export function startTelemetry(options: StartTelemetryOptions): Telemetry {
  let logger = options.logger;
  let config = options.config;
  if (config === undefined) {
    const env = configOrExit(telemetryEnv.extend(logEnv.shape));
    logger ??= createLogger(options.service, env.LOG_LEVEL);
    config = env;
  }
  const log = (logger ?? createLogger(options.service)).child({ component: 'opentelemetry' });
  routeSdkErrors(log);

  const exportUrl =
    config.OTEL_EXPORTER_OTLP_ENDPOINT === undefined
      ? undefined
      : `${config.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`;
  const processors: SpanProcessor[] = [];
  if (exportUrl !== undefined) {
    const exporter = new OTLPTraceExporter({ url: exportUrl, timeoutMillis: BATCH_SPAN_PROCESSOR.exportTimeoutMillis });
    processors.push(new BatchSpanProcessor({ exporter, ...BATCH_SPAN_PROCESSOR }));
  }
  processors.push(...(options.spanProcessors ?? []));
  // The SDK registers no tracer provider at all without a processor; this one keeps spans (and
  // so trace ids in logs, and context across Kafka) when nothing exports them.
  if (processors.length === 0) processors.push(new NoopSpanProcessor());

  const environment = config.DEPLOYMENT_ENVIRONMENT;
  const sdk = new NodeSDK({
    serviceName: config.OTEL_SERVICE_NAME ?? options.service,
    resource: resourceFromAttributes({
      'service.version': options.version,
      'deployment.environment.name': environment,
      'deployment.environment': environment,
    }),
    sampler: createSampler(config.OTEL_TRACES_SAMPLER, config.OTEL_TRACES_SAMPLER_ARG),
    spanLimits: { linkCountLimit: MAX_LINKS_PER_SPAN },
    spanProcessors: processors,
    textMapPropagator: new W3CTraceContextPropagator(),
    instrumentations: options.instrumentations ?? [],
    // No OpenTelemetry logs pipeline (the SDK would otherwise build an OTLP log exporter from the
    // environment): logs are pino's, on stdout.
    logRecordProcessors: [],
  });
  sdk.start();
  setLogContextProvider(traceLogContext);
  log.info(
    {
      serviceName: config.OTEL_SERVICE_NAME ?? options.service,
      sampler: config.OTEL_TRACES_SAMPLER,
      ratio: config.OTEL_TRACES_SAMPLER_ARG,
      exportUrl: exportUrl ?? null,
    },
    exportUrl
      ? `tracing on; exporting spans to ${exportUrl}`
      : 'tracing on; spans are not exported (OTEL_EXPORTER_OTLP_ENDPOINT is not set)',
  );

  let stopped: Promise<void> | undefined;
  return {
    config,
    exportUrl,
    shutdown: () =>
      (stopped ??= (async () => {
        setLogContextProvider(undefined);
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), SHUTDOWN_TIMEOUT_MS);
        });
        try {
          // Tracing is not worth a failed shutdown: an unreachable collector is logged, not thrown.
          const outcome = await Promise.race([sdk.shutdown().then(() => 'done' as const), timeout]);
          if (outcome === 'timeout')
            log.warn(
              { timeoutMs: SHUTDOWN_TIMEOUT_MS, exportUrl },
              'last spans not exported within the shutdown timeout; dropped',
            );
        } catch (err) {
          log.warn({ err, exportUrl }, 'last spans could not be exported; dropped');
        } finally {
          clearTimeout(timer);
        }
      })()),
  };
}

/**
 * The sampler for `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (the specification's
 * meanings), wrapped so that a ROOT span whose links include a sampled span is sampled too: a
 * result-handler batch insert (a trace of its own, linked to the messages it stored) is recorded
 * whenever one of those jobs' traces is.
 */
export function createSampler(name: TracesSampler, ratio: number): Sampler {
  const ratioSampler = new TraceIdRatioBasedSampler(ratio);
  const base: Record<TracesSampler, () => Sampler> = {
    always_on: () => new AlwaysOnSampler(),
    always_off: () => new AlwaysOffSampler(),
    traceidratio: () => ratioSampler,
    parentbased_always_on: () => new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    parentbased_always_off: () => new ParentBasedSampler({ root: new AlwaysOffSampler() }),
    parentbased_traceidratio: () => new ParentBasedSampler({ root: ratioSampler }),
  };
  return new SampledLinksSampler(base[name]());
}

/** Samples a root span that links to a sampled span; anything else is up to `inner`. */
class SampledLinksSampler implements Sampler {
  constructor(private readonly inner: Sampler) {}

  shouldSample(
    ctx: Context,
    traceId: string,
    name: string,
    kind: SpanKind,
    attributes: Attributes,
    links: Link[],
  ): SamplingResult {
    if (links.length > 0 && trace.getSpanContext(ctx) === undefined && links.some((l) => isSampled(l.context))) {
      return { decision: SamplingDecision.RECORD_AND_SAMPLED };
    }
    return this.inner.shouldSample(ctx, traceId, name, kind, attributes, links);
  }

  toString(): string {
    return `SampledLinks{${this.inner.toString()}}`;
  }
}

/**
 * The SDK reports failed exports (Jaeger down, wrong endpoint) through its global error handler
 * and `diag`, both silent by default. They are logged here as warnings, at most one a minute.
 */
function routeSdkErrors(log: Logger): void {
  let lastAt = 0;
  let suppressed = 0;
  const report = (message: string, err?: unknown) => {
    const now = Date.now();
    if (now - lastAt < 60_000) {
      suppressed += 1;
      return;
    }
    lastAt = now;
    log.warn({ err, suppressed }, `${message} (spans are dropped; logged at most once a minute)`);
    suppressed = 0;
  };
  setGlobalErrorHandler((err) => report('OpenTelemetry export or SDK error', err));
  diag.setLogger(
    {
      error: (message, ...args) => report(`OpenTelemetry: ${message}`, args[0]),
      warn: (message, ...args) => report(`OpenTelemetry: ${message}`, args[0]),
      info: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
    },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
}
