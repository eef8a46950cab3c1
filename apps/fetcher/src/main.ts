/**
 * Fetcher service: wiring only. Configuration: src/config.ts (every variable with its default).
 */
// First: starts tracing before anything else is loaded (see ./telemetry).
import { telemetry } from './telemetry';
import { configOrExit, createLogger, createRegistry, onShutdown, startServiceHttp } from '@mockstagram/shared';
import { FETCHER_RENAMED, fetcherEnv } from './config';
import { Fetcher } from './fetcher';
import { createFetcherMetrics } from './metrics';

const SERVICE = 'fetcher';

async function main(): Promise<void> {
  const config = configOrExit(fetcherEnv, { renamed: FETCHER_RENAMED });
  const logger = createLogger(SERVICE, config.LOG_LEVEL);
  const registry = createRegistry(SERVICE);
  const metrics = createFetcherMetrics(registry);

  let shutdown: ((reason: string, exitCode?: number) => Promise<void>) | undefined;
  const fetcher = new Fetcher({
    config,
    logger,
    metrics,
    onFatal: () => void shutdown?.('kafka consumer crashed', 1),
  });

  const http = await startServiceHttp({
    port: config.FETCHER_HTTP_PORT,
    portVariable: 'FETCHER_HTTP_PORT',
    host: config.FETCHER_HTTP_HOST,
    registry,
    ready: () => fetcher.isReady(),
    logger,
  });

  // Stop taking work first (lookups under way finish or are aborted, uncommitted jobs are
  // redelivered), then the HTTP server.
  const handle = onShutdown(logger, [
    { name: 'fetcher (consumer, producer, api pool)', run: () => fetcher.stop() },
    { name: 'http', run: () => http.close() },
    { name: 'telemetry (export the last spans)', run: () => telemetry.shutdown() },
  ]);
  shutdown = (reason, exitCode) => handle.shutdown(reason, exitCode);

  try {
    await fetcher.start();
  } catch (err) {
    logger.fatal({ err }, 'fetcher failed to start');
    await handle.shutdown('start failed', 1);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`fetcher failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
