import fs from 'node:fs';
import path from 'node:path';
import { answers200, programPid, startProgram, stopProgram } from './background';
import { JAEGER, ensureGoTool, toolDir, type Log } from './go-build';

/**
 * Jaeger v2 all-in-one (in-memory storage), built from source (go-build.ts). Its embedded
 * all-in-one configuration fixes every port; the devstack writes the same pipeline (OTLP in,
 * batch, memory storage, query API and UI, health check) with the ports from its settings and
 * without the receivers and extensions nothing here uses (Jaeger/Zipkin protocols, remote
 * sampling, expvar, zpages, its own metrics endpoint). Files under <dataDir>/jaeger:
 *
 *   config.yaml   written on every start
 *   jaeger.log    its log
 *   jaeger.pid    pid of the running Jaeger
 */
export interface JaegerPorts {
  uiPort: number;
  queryGrpcPort: number;
  otlpGrpcPort: number;
  otlpHttpPort: number;
  healthPort: number;
}

export function jaegerPaths(dataDir: string) {
  const root = path.join(dataDir, 'jaeger');
  return {
    root,
    config: path.join(root, 'config.yaml'),
    logFile: path.join(root, 'jaeger.log'),
    pidFile: path.join(root, 'jaeger.pid'),
  };
}

/** The binary the devstack runs (whether built yet or not): what a pid file's process must be. */
export function jaegerBinary(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(toolDir(JAEGER, env), 'jaeger');
}

/** Traces kept in memory; the oldest are dropped beyond this. */
const MAX_TRACES = 100_000;

export function jaegerConfig(ports: JaegerPorts): string {
  // ${env:JAEGER_LISTEN_HOST} is expanded by Jaeger; the devstack sets it to its host.
  const at = (port: number) => JSON.stringify(`\${env:JAEGER_LISTEN_HOST}:${port}`);
  return `# Written by @mockstagram/devstack on every start; edits are overwritten.
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: none
    logs:
      level: info

extensions:
  jaeger_query:
    storage:
      traces: memstore
    # Jaeger's own query spans would mix with the pipeline's.
    enable_tracing: false
    http:
      endpoint: ${at(ports.uiPort)}
    grpc:
      endpoint: ${at(ports.queryGrpcPort)}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: ${MAX_TRACES}
  healthcheckv2:
    use_v2: true
    http:
      endpoint: ${at(ports.healthPort)}

receivers:
  otlp:
    protocols:
      grpc:
        endpoint: ${at(ports.otlpGrpcPort)}
      http:
        endpoint: ${at(ports.otlpHttpPort)}

processors:
  batch:

exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`;
}

/** True when Jaeger's health check says it is up and its query API answers. */
export async function jaegerAnswers(host: string, ports: JaegerPorts): Promise<boolean> {
  return (
    (await answers200(`http://${host}:${ports.healthPort}/status`)) &&
    (await answers200(`http://${host}:${ports.uiPort}/api/services`))
  );
}

export async function startJaeger(opts: {
  dataDir: string;
  host: string;
  ports: JaegerPorts;
  log: Log;
}): Promise<{ pid: number; alreadyRunning: boolean }> {
  const { dataDir, host, ports, log } = opts;
  const paths = jaegerPaths(dataDir);
  const binary = jaegerBinary();
  if (programPid(paths.pidFile, binary) === undefined) {
    await ensureGoTool(JAEGER, log);
    fs.mkdirSync(paths.root, { recursive: true });
    fs.writeFileSync(paths.config, jaegerConfig(ports));
    log(
      `jaeger: starting (UI and query API ${host}:${ports.uiPort}, OTLP ${host}:${ports.otlpGrpcPort} gRPC / ${host}:${ports.otlpHttpPort} HTTP; log: ${paths.logFile})`,
    );
  }
  return startProgram({
    name: `Jaeger on ${host}:${ports.uiPort}`,
    binary,
    args: ['--config', paths.config],
    env: { ...process.env, JAEGER_LISTEN_HOST: host },
    pidFile: paths.pidFile,
    logFile: paths.logFile,
    ready: () => jaegerAnswers(host, ports),
  });
}

export function stopJaeger(dataDir: string): Promise<boolean> {
  return stopProgram(jaegerPaths(dataDir).pidFile, jaegerBinary());
}

export function jaegerStatus(dataDir: string): { running: boolean; pid?: number } {
  const pid = programPid(jaegerPaths(dataDir).pidFile, jaegerBinary());
  return pid === undefined ? { running: false } : { running: true, pid };
}
