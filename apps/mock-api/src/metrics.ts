import { Counter, Histogram, type Registry } from '@mockstagram/shared';
import type { FaultName } from './faults';

/**
 * The mock API's own metrics. Per request the hot path does one Counter.inc on a pre-bound
 * child (`mock_api_requests_total{status}`) and one Histogram.observe.
 */
export interface MockApiMetrics {
  /** Counts one answered request with this HTTP status. */
  answered(status: number, seconds: number): void;
  /** Counts one injected fault. */
  fault(name: FaultName): void;
}

export function createMockApiMetrics(registry: Registry): MockApiMetrics {
  const requests = new Counter({
    name: 'mock_api_requests_total',
    help: 'Influencer API requests answered, by HTTP status (hung requests are not answered: see mock_api_faults_injected_total)',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'mock_api_request_duration_seconds',
    help: 'Time from receiving an influencer API request to answering it, injected latency included',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const faults = new Counter({
    name: 'mock_api_faults_injected_total',
    help: 'Faults injected into influencer API requests, by kind (hang, latency, error, rateLimit, malformed)',
    labelNames: ['fault'] as const,
    registers: [registry],
  });
  const byStatus = new Map<number, { inc(): void }>();
  return {
    answered(status, seconds) {
      let child = byStatus.get(status);
      if (child === undefined) {
        child = requests.labels(String(status));
        byStatus.set(status, child);
      }
      child.inc();
      duration.observe(seconds);
    },
    fault(name) {
      faults.labels(name).inc();
    },
  };
}

/** Metrics that record nothing (for tests that do not care). */
export const NO_METRICS: MockApiMetrics = { answered() {}, fault() {} };
