import type { Log } from './go-build';
import { jaegerPaths, jaegerStatus, startJaeger, stopJaeger } from './jaeger';
import { assertPortFree } from './ports';
import { prometheusPaths, prometheusStatus, startPrometheus, stopPrometheus } from './prometheus';
import type { DevstackSettings } from './settings';

/**
 * `--observability`: Jaeger and Prometheus beside the engines, started, stopped and shown like
 * them. Both are built from source on first use (go-build.ts).
 */

/** Start Jaeger and Prometheus unless they run; ports are checked first and named with their variables. */
export async function upObservability(
  s: DevstackSettings,
  log: Log,
  opts: { targets?: Record<string, string[]> } = {},
): Promise<void> {
  const st = observabilityStatus(s);
  if (!st.jaeger.running) {
    const j = s.jaeger;
    for (const [what, port, variable] of [
      ['the Jaeger UI and query API', j.uiPort, 'DEVSTACK_JAEGER_UI_PORT'],
      ["Jaeger's query gRPC API", j.queryGrpcPort, 'DEVSTACK_JAEGER_QUERY_GRPC_PORT'],
      ["Jaeger's OTLP gRPC receiver", j.otlpGrpcPort, 'DEVSTACK_JAEGER_OTLP_GRPC_PORT'],
      ["Jaeger's OTLP HTTP receiver", j.otlpHttpPort, 'DEVSTACK_JAEGER_OTLP_HTTP_PORT'],
      ["Jaeger's health check", j.healthPort, 'DEVSTACK_JAEGER_HEALTH_PORT'],
    ] as const) {
      await assertPortFree({ what, host: s.host, port, variable });
    }
  }
  if (!st.prometheus.running) {
    await assertPortFree({
      what: 'Prometheus',
      host: s.host,
      port: s.prometheusPort,
      variable: 'DEVSTACK_PROMETHEUS_PORT',
    });
  }
  // One after the other: the first start builds each from source, and builds share the cores.
  const jaeger = await timed(() => startJaeger({ dataDir: s.dir, host: s.host, ports: s.jaeger, log }));
  log(
    jaeger.alreadyRunning
      ? `jaeger: already running (pid ${jaeger.pid}) at ${s.jaegerUrl}`
      : `jaeger: ready at ${s.jaegerUrl}, OTLP at ${s.otlpEndpoint} (pid ${jaeger.pid}, ${jaeger.seconds} s)`,
  );
  const prometheus = await timed(() =>
    startPrometheus({ dataDir: s.dir, host: s.host, port: s.prometheusPort, log, targets: opts.targets }),
  );
  log(
    prometheus.alreadyRunning
      ? `prometheus: already running (pid ${prometheus.pid}) at ${s.prometheusUrl}; configuration reloaded`
      : `prometheus: ready at ${s.prometheusUrl} (pid ${prometheus.pid}, ${prometheus.seconds} s)`,
  );
}

async function timed<T>(start: () => Promise<T>): Promise<T & { seconds: string }> {
  const started = Date.now();
  const result = await start();
  return { ...result, seconds: ((Date.now() - started) / 1000).toFixed(1) };
}

/** Stop whichever of the two runs; says only what it stopped. */
export async function downObservability(s: DevstackSettings, log: Log): Promise<void> {
  const [jaeger, prometheus] = await Promise.all([stopJaeger(s.dir), stopPrometheus(s.dir)]);
  if (jaeger) log('jaeger: stopped');
  if (prometheus) log('prometheus: stopped');
}

export function observabilityStatus(s: DevstackSettings) {
  return { jaeger: jaegerStatus(s.dir), prometheus: prometheusStatus(s.dir) };
}

/** Status lines for `yarn devstack status`. */
export function observabilityStatusLines(s: DevstackSettings): string[] {
  const st = observabilityStatus(s);
  const line = (name: string, x: { running: boolean; pid?: number }, where: string, logFile: string) =>
    `${name.padEnd(12)} ${x.running ? `running  pid ${x.pid}  ${where}` : 'stopped'}  log: ${logFile}`;
  return [
    line('jaeger', st.jaeger, `${s.jaegerUrl} (OTLP ${s.otlpEndpoint})`, jaegerPaths(s.dir).logFile),
    line('prometheus', st.prometheus, s.prometheusUrl, prometheusPaths(s.dir).logFile),
  ];
}
