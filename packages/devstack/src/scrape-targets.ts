/**
 * The services Prometheus scrapes, with the variable that holds each one's HTTP port and its
 * default. One list for both configurations: volumes/prometheus/prometheus.yml (compose; a test
 * checks its jobs against this list and against docker-compose.yml) and the devstack's (written
 * by prometheus.ts from this list).
 */
export interface ScrapedService {
  /** The Prometheus job name, the compose service name and the folder under apps/. */
  job: string;
  /** The variable the service reads its HTTP port (/metrics) from. */
  portVariable: string;
  /** That variable's default in the service's config schema (a test checks they agree). */
  defaultPort: number;
  /** Runs as several replicas under compose (found through Docker's DNS there). */
  scalable: boolean;
}

export const SCRAPED_SERVICES: readonly ScrapedService[] = [
  { job: 'mock-api', portVariable: 'MOCK_API_PORT', defaultPort: 3001, scalable: false },
  { job: 'scheduler', portVariable: 'SCHEDULER_HTTP_PORT', defaultPort: 8081, scalable: false },
  { job: 'fetcher', portVariable: 'FETCHER_HTTP_PORT', defaultPort: 8082, scalable: true },
  { job: 'result-handler', portVariable: 'RESULT_HANDLER_HTTP_PORT', defaultPort: 8083, scalable: true },
  { job: 'api', portVariable: 'API_HTTP_PORT', defaultPort: 8084, scalable: false },
];

/** Prometheus' scrape_config, the part this project uses. */
export interface ScrapeConfig {
  job_name: string;
  static_configs?: Array<{ targets: string[] }>;
  dns_sd_configs?: Array<{ names: string[]; type: 'A'; port: number; refresh_interval: string }>;
  file_sd_configs?: Array<{ files: string[]; refresh_interval: string }>;
}

/** Compose's scrape configs: Prometheus itself, then each service by its compose name; scalable ones through DNS. */
export function composeScrapeConfigs(prometheusPort = 9090): ScrapeConfig[] {
  return [
    { job_name: 'prometheus', static_configs: [{ targets: [`localhost:${prometheusPort}`] }] },
    ...SCRAPED_SERVICES.map((s): ScrapeConfig =>
      s.scalable
        ? {
            job_name: s.job,
            dns_sd_configs: [{ names: [s.job], type: 'A', port: s.defaultPort, refresh_interval: '10s' }],
          }
        : { job_name: s.job, static_configs: [{ targets: [`${s.job}:${s.defaultPort}`] }] },
    ),
  ];
}

/** host:port of each service on this machine: its port variable from env, else its default. */
export function localTargets(host: string, env: NodeJS.ProcessEnv = process.env): Record<string, string[]> {
  return Object.fromEntries(SCRAPED_SERVICES.map((s) => [s.job, [`${host}:${env[s.portVariable] || s.defaultPort}`]]));
}
