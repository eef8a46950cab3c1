import { Counter, Histogram, type Registry } from '@mockstagram/shared/metrics';

/** Request metrics of the api, labelled by route pattern (never by raw path: ids are unbounded). */
export interface ApiMetrics {
  answered(route: string, status: number, seconds: number): void;
}

export function createApiMetrics(registry: Registry): ApiMetrics {
  const requests = new Counter({
    name: 'api_http_requests_total',
    help: 'API requests answered, by route pattern and HTTP status',
    labelNames: ['route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'api_http_request_duration_seconds',
    help: 'Time from receiving an API request to answering it, by route pattern',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  return {
    answered(route, status, seconds) {
      requests.labels(route, String(status)).inc();
      duration.labels(route).observe(seconds);
    },
  };
}
