/**
 * Mockstagram mock API: wiring only. Configuration: src/config.ts (every MOCK_API_* variable
 * with its default).
 */
// First: starts tracing before anything else is loaded (see ./telemetry).
import { telemetry } from './telemetry';
import { configOrExit, createLogger, createRegistry, formatProblem, onShutdown } from '@mockstagram/shared';
import { countsOptionsFrom, faultDefaultsFrom, idRangeProblem, mockApiEnv } from './config';
import { Faults } from './faults';
import { createMockApiMetrics } from './metrics';
import { MockApiServer, PortInUseError } from './server';

const SERVICE = 'mock-api';

async function main(): Promise<void> {
  const config = configOrExit(mockApiEnv);
  const logger = createLogger(SERVICE, config.LOG_LEVEL);
  const rangeProblem = idRangeProblem(config);
  if (rangeProblem) {
    process.stderr.write(`invalid configuration:\n  ${formatProblem(rangeProblem)}\n`);
    process.exit(2);
  }

  const registry = createRegistry(SERVICE);
  const faults = new Faults(faultDefaultsFrom(config));
  const counts = countsOptionsFrom(config);
  const api = new MockApiServer({
    idMin: config.MOCK_API_ID_MIN,
    idMax: config.MOCK_API_ID_MAX,
    counts,
    faults,
    registry,
    metrics: createMockApiMetrics(registry),
    logger,
  });

  try {
    const address = await api.listen(config.MOCK_API_PORT, config.MOCK_API_HOST);
    logger.info(
      { port: address.port, ids: [config.MOCK_API_ID_MIN, config.MOCK_API_ID_MAX], counts, faults: faults.get() },
      `mock-api listening on :${address.port} (GET /api/v1/influencers/:id, /admin/faults, /metrics, /healthz, /readyz)`,
    );
  } catch (err) {
    const message =
      err instanceof PortInUseError
        ? `port ${err.port} is already in use; set MOCK_API_PORT to a free port`
        : `cannot listen on port ${config.MOCK_API_PORT} (${(err as Error).message}); check MOCK_API_PORT`;
    logger.fatal({ err }, message);
    process.stderr.write(`${message}\n`);
    process.exit(1);
  }

  onShutdown(logger, [
    { name: 'http server', run: () => api.close() },
    { name: 'telemetry (export the last spans)', run: () => telemetry.shutdown() },
  ]);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `mock-api failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
