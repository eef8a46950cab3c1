/**
 * Prometheus metrics: one registry per service.
 *
 * @module
 */
import { collectDefaultMetrics, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Summary, Registry } from 'prom-client';

/**
 * Creates the service's registry: Node/process default metrics (`process_cpu_seconds_total`,
 * `nodejs_eventloop_lag_seconds`, ...) and `service="<service>"` on every series.
 * Register the service's own metrics on it:
 *
 * ```ts
 * const registry = createRegistry('fetcher');
 * const fetched = new Counter({ name: 'fetcher_requests_total', help: '...', labelNames: ['outcome'], registers: [registry] });
 * ```
 */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}
