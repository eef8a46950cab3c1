import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { cacheDir } from './paths';
import { isAlive, killPid, run, runningPid, stopPid, waitFor, writePid } from './process';

/**
 * A real Apache Kafka (4.x, KRaft) run from the official jars: one node, or a cluster of three.
 * Every node is broker and controller; the controllers form a static quorum
 * (controller.quorum.voters, as the apache/kafka image's wrapper also keeps), so `kafka-storage
 * format` needs only the cluster id (no --standalone / --initial-controllers) and all nodes are
 * formatted with the same one. Maven resolves the jars from packages/devstack/pom.xml into ~/.m2;
 * the resulting classpath is cached in cacheDir().
 *
 * Files of a node, under <dataDir>/kafka (one node) or <dataDir>/kafka/node-<id> (a cluster):
 *
 *   server.properties, log4j2.properties  written on every start
 *   data/                                 the log dirs (formatted once, on first start)
 *   logs/server.log                       the broker's log
 *   logs/stdout.log                       the JVM's stdout and stderr (crashes land here)
 *   kafka.pid                             pid of the running broker
 */

export type Log = (msg: string) => void;

/** One node: its KRaft node.id and the ports of its client (PLAINTEXT) and controller listeners. */
export interface KafkaNode {
  id: number;
  port: number;
  controllerPort: number;
}

export interface StartKafkaOptions {
  /** The devstack directory; Kafka lives in <dataDir>/kafka. */
  dataDir: string;
  /** Address the listeners bind to and the brokers advertise, e.g. 127.0.0.1. */
  host: string;
  /** The nodes: one (node.id 1), or three. Nodes already running are left as they are. */
  nodes: KafkaNode[];
  log: Log;
  /** How long to wait until every node is in the cluster's metadata. Default 120 s per node started. */
  readyTimeoutMs?: number;
}

/** JVM heap unless KAFKA_HEAP_OPTS is set (the variable Kafka's own scripts read). */
export const DEFAULT_KAFKA_HEAP_OPTS = '-Xms256m -Xmx1g';

const pomFile = path.resolve(__dirname, '..', 'pom.xml');

/**
 * Files of one node. nodeId undefined → the one-node layout <dataDir>/kafka; else
 * <dataDir>/kafka/node-<id>.
 */
export function kafkaPaths(dataDir: string, nodeId?: number) {
  const root = nodeId === undefined ? path.join(dataDir, 'kafka') : path.join(dataDir, 'kafka', `node-${nodeId}`);
  return {
    root,
    dataDir: path.join(root, 'data'),
    logsDir: path.join(root, 'logs'),
    pidFile: path.join(root, 'kafka.pid'),
    serverProperties: path.join(root, 'server.properties'),
    log4j2Properties: path.join(root, 'log4j2.properties'),
    serverLog: path.join(root, 'logs', 'server.log'),
    stdoutLog: path.join(root, 'logs', 'stdout.log'),
  };
}

export type KafkaNodePaths = ReturnType<typeof kafkaPaths>;

/** The files of a node in a cluster of `size` nodes (a one-node cluster keeps the one-node layout). */
export function nodePaths(dataDir: string, nodeId: number, size: number): KafkaNodePaths {
  return size === 1 ? kafkaPaths(dataDir) : kafkaPaths(dataDir, nodeId);
}

/** Every node directory under <dataDir>/kafka, of either layout: what `down` stops. */
function allNodePaths(dataDir: string): KafkaNodePaths[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(path.join(dataDir, 'kafka'));
  } catch {
    return [];
  }
  const ids = entries
    .flatMap((e) => /^node-(\d+)$/.exec(e)?.[1] ?? [])
    .map(Number)
    .sort((x, y) => x - y);
  return [kafkaPaths(dataDir), ...ids.map((id) => kafkaPaths(dataDir, id))];
}

// ---------------------------------------------------------------------------------------------
// Java and Maven

function javaBin(): string {
  return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

const javaInstallHint =
  'Install a JRE 17 or newer (Debian/Ubuntu: `sudo apt-get install openjdk-17-jre-headless`) ' +
  'and make sure `java` is on PATH (or JAVA_HOME points to it).';

/** Throws unless `java` (from JAVA_HOME or PATH) is version 17 or newer. */
export async function checkJava(): Promise<void> {
  let result;
  try {
    result = await run(javaBin(), ['-version']);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(
        `Java 17+ is required to run the devstack's Kafka broker, but \`${javaBin()}\` was not found. ${javaInstallHint}`,
        { cause: err },
      );
    }
    throw err;
  }
  const match = /version "(\d+)(?:\.(\d+))?/.exec(result.output);
  if (!match) throw new Error(`Could not read the Java version from \`${javaBin()} -version\`:\n${result.output}`);
  // "1.8.0_392" is Java 8; "17.0.15" is Java 17.
  const major = match[1] === '1' ? Number(match[2]) : Number(match[1]);
  if (major < 17) {
    throw new Error(`Java 17+ is required to run Kafka 4, but \`${javaBin()}\` is Java ${major}. ${javaInstallHint}`);
  }
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function readCachedClasspath(classpathFile: string): string | undefined {
  try {
    const classpath = fs.readFileSync(classpathFile, 'utf8').trim();
    // ~/.m2 may have been cleaned since: then resolve again.
    if (!classpath || !classpath.split(path.delimiter).every((jar) => fs.existsSync(jar))) return undefined;
    return classpath;
  } catch {
    return undefined;
  }
}

/**
 * The broker's Java classpath. Runs `mvn dependency:build-classpath` on packages/devstack/pom.xml
 * when no classpath was cached for this exact pom, or the cached one names a jar that is gone.
 * The cache holds one file per pom (classpath-<pom sha256, 16 hex>.txt), so checkouts of different
 * Kafka versions sharing it never take each other's jars; classpath.txt is a copy of the newest
 * resolved, for running Kafka's tools by hand. Maven keeps the jars in its local repository
 * (~/.m2); its output goes to <cacheDir>/mvn.log.
 */
export async function resolveKafkaClasspath(log: Log): Promise<string> {
  const dir = cacheDir();
  const classpathFile = path.join(dir, `classpath-${sha256(pomFile).slice(0, 16)}.txt`);
  const mvnLog = path.join(dir, 'mvn.log');

  const cached = readCachedClasspath(classpathFile);
  if (cached) return cached;

  fs.mkdirSync(dir, { recursive: true });
  log(`kafka: resolving the broker's jars with Maven (the first run downloads ~50 MB into ~/.m2; log: ${mvnLog})`);
  const tmpFile = `${classpathFile}.${process.pid}.tmp`;
  const started = Date.now();
  let result;
  try {
    fs.writeFileSync(mvnLog, '');
    result = await run(
      'mvn',
      ['-q', '-B', '-f', pomFile, 'dependency:build-classpath', `-Dmdep.outputFile=${tmpFile}`],
      {
        logFile: mvnLog,
      },
    );
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(
        'Maven (`mvn`) is required to fetch the Kafka broker jars, but it was not found on PATH. ' +
          'Install it (Debian/Ubuntu: `sudo apt-get install maven`) and run the devstack again.',
        { cause: err },
      );
    }
    throw err;
  }
  if (result.code !== 0 || !fs.existsSync(tmpFile)) {
    fs.rmSync(tmpFile, { force: true });
    throw new Error(
      `mvn dependency:build-classpath failed (exit ${result.code}); see ${mvnLog}:\n${tail(result.output, 20)}`,
    );
  }
  const classpath = fs.readFileSync(tmpFile, 'utf8').trim();
  const latest = `${path.join(dir, 'classpath.txt')}.${process.pid}.tmp`;
  fs.writeFileSync(latest, `${classpath}\n`);
  fs.renameSync(latest, path.join(dir, 'classpath.txt'));
  fs.renameSync(tmpFile, classpathFile);
  log(`kafka: jars resolved in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return classpath;
}

// ---------------------------------------------------------------------------------------------
// Configuration files

export function serverProperties(opts: { host: string; node: KafkaNode; nodes: KafkaNode[]; logDirs: string }): string {
  const { host, node, nodes, logDirs } = opts;
  const size = nodes.length;
  // A cluster of three keeps acks=all writes going with one node down, and refuses them with two down.
  const replication = size >= 3 ? 3 : 1;
  const minIsr = size >= 3 ? 2 : 1;
  return [
    '# Written by @mockstagram/devstack on every start; edits are overwritten.',
    size === 1
      ? '# KRaft, one node that is both broker and controller.'
      : `# KRaft, node ${node.id} of ${size}; every node is broker and controller (a static quorum).`,
    'process.roles=broker,controller',
    `node.id=${node.id}`,
    `controller.quorum.voters=${nodes.map((n) => `${n.id}@${host}:${n.controllerPort}`).join(',')}`,
    `listeners=PLAINTEXT://${host}:${node.port},CONTROLLER://${host}:${node.controllerPort}`,
    `advertised.listeners=PLAINTEXT://${host}:${node.port}`,
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    'controller.listener.names=CONTROLLER',
    `log.dirs=${logDirs}`,
    '',
    '# Topics are created explicitly, like in production.',
    'auto.create.topics.enable=false',
    'num.partitions=1',
    `default.replication.factor=${replication}`,
    `min.insync.replicas=${minIsr}`,
    '',
    size === 1
      ? '# A single node cannot replicate internal topics.'
      : '# Internal topics as durable as the data topics.',
    `offsets.topic.replication.factor=${replication}`,
    `transaction.state.log.replication.factor=${replication}`,
    `transaction.state.log.min.isr=${minIsr}`,
    '',
    '# Consumers in tests and dev join at once instead of waiting 3 s for more members.',
    'group.initial.rebalance.delay.ms=0',
    '',
    '# Small machine: few threads.',
    'num.network.threads=2',
    'num.io.threads=4',
    'num.recovery.threads.per.data.dir=1',
    '',
  ].join('\n');
}

export function log4j2Properties(logsDir: string): string {
  // Kafka's config/log4j2.yaml in log4j2's properties format: everything in one rolling file, nothing on stdout.
  const serverLog = path.join(logsDir, 'server.log');
  return [
    '# Written by @mockstagram/devstack on every start; edits are overwritten.',
    'status=warn',
    'appender.server.type=RollingFile',
    'appender.server.name=SERVER',
    `appender.server.fileName=${serverLog}`,
    `appender.server.filePattern=${serverLog}.%i`,
    'appender.server.layout.type=PatternLayout',
    'appender.server.layout.pattern=[%d] %p %m (%c)%n',
    'appender.server.policies.type=Policies',
    'appender.server.policies.size.type=SizeBasedTriggeringPolicy',
    'appender.server.policies.size.size=20MB',
    'appender.server.strategy.type=DefaultRolloverStrategy',
    'appender.server.strategy.max=3',
    'rootLogger.level=info',
    'rootLogger.appenderRef.server.ref=SERVER',
    // One line per request at INFO otherwise.
    'logger.request.name=kafka.request.logger',
    'logger.request.level=warn',
    '',
  ].join('\n');
}

/**
 * 16 random bytes, base64url without padding, never starting with '-' (it would read as an option
 * on a command line): what `kafka-storage random-uuid` prints.
 */
export function newClusterId(): string {
  for (;;) {
    const id = crypto.randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function jvmArgs(classpath: string, logsDir: string, log4j2File: string): string[] {
  const heap = (process.env.KAFKA_HEAP_OPTS ?? DEFAULT_KAFKA_HEAP_OPTS).split(/\s+/).filter(Boolean);
  return [
    ...heap,
    // The GC settings of Kafka's kafka-run-class.sh.
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-XX:InitiatingHeapOccupancyPercent=35',
    '-XX:+ExplicitGCInvokesConcurrent',
    '-Djava.awt.headless=true',
    `-Dkafka.logs.dir=${logsDir}`,
    `-Dlog4j2.configurationFile=${log4j2File}`,
    '-cp',
    classpath,
  ];
}

// ---------------------------------------------------------------------------------------------
// Start, stop, status

function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** For error messages: the first ERROR/FATAL lines of a log, then its last lines. */
function logExcerpt(file: string, lines = 10): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
  const all = text.trimEnd().split('\n');
  const errors = all.filter((line) => / (ERROR|FATAL) |^Caused by:/.test(line)).slice(0, lines);
  const parts = [];
  if (errors.length > 0) parts.push(`--- errors in ${file} ---`, ...errors);
  parts.push(`--- last lines of ${file} ---`, ...all.slice(-lines));
  return parts.join('\n');
}

/** On Linux, make sure a pid from the pid file is still our broker and not a reused pid. */
function isKafkaProcess(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('kafka.Kafka');
  } catch (err) {
    // No /proc (macOS): trust the pid file.
    return (err as NodeJS.ErrnoException).code !== 'ENOENT' || !fs.existsSync('/proc/self');
  }
}

function runningKafkaPid(pidFile: string): number | undefined {
  const pid = runningPid(pidFile);
  if (pid === undefined) return undefined;
  if (isKafkaProcess(pid)) return pid;
  fs.rmSync(pidFile, { force: true }); // stale: the pid now belongs to another program
  return undefined;
}

/** Format a node's log dirs for KRaft with the cluster's id, unless they already are (first start only). */
async function formatStorage(classpath: string, paths: KafkaNodePaths, clusterId: string, log: Log): Promise<void> {
  if (fs.existsSync(path.join(paths.dataDir, 'meta.properties'))) return;
  log(`kafka: formatting ${paths.dataDir} (cluster id ${clusterId})`);
  const formatLog = path.join(paths.logsDir, 'format.log');
  const args = [
    '-Xmx256m',
    `-Dlog4j2.configurationFile=${paths.log4j2Properties}`,
    '-cp',
    classpath,
    'kafka.tools.StorageTool',
    'format',
    `--cluster-id=${clusterId}`,
    '--config',
    paths.serverProperties,
    '--ignore-formatted',
  ];
  fs.writeFileSync(formatLog, '');
  const result = await run(javaBin(), args, { logFile: formatLog });
  if (result.code !== 0) {
    throw new Error(`kafka-storage format failed (exit ${result.code}); see ${formatLog}:\n${tail(result.output, 20)}`);
  }
}

function metaClusterId(paths: KafkaNodePaths): string | undefined {
  try {
    const meta = fs.readFileSync(path.join(paths.dataDir, 'meta.properties'), 'utf8');
    return /^cluster\.id=(.+)$/m.exec(meta)?.[1].trim();
  } catch {
    return undefined;
  }
}

/** The cluster id node nodeId (default: the one-node layout) was formatted with, if formatted. */
export function formattedClusterId(dataDir: string, nodeId?: number): string | undefined {
  return metaClusterId(kafkaPaths(dataDir, nodeId));
}

/** The id the nodes' storage holds (all must agree), or undefined when none is formatted yet. */
function clusterIdOf(paths: KafkaNodePaths[]): string | undefined {
  const ids = new Set(paths.flatMap((p) => metaClusterId(p) ?? []));
  if (ids.size > 1) {
    throw new Error(
      `the Kafka nodes under ${path.dirname(paths[0].root)} were formatted for different clusters (${[...ids].join(', ')}); ` +
        'wipe them with `yarn devstack up --fresh`',
    );
  }
  return [...ids][0];
}

/**
 * True when the broker at host:port answers a metadata request as part of a cluster with a
 * controller. With clusterId, only when it is that cluster (so another broker already on the port
 * does not count as ours); with nodeIds, only when every one of those brokers is in the metadata.
 * A KRaft broker is listed only once the active controller has registered and unfenced it, so all
 * nodes listed also means a controller was elected and knows them.
 */
export async function kafkaAnswers(broker: string, clusterId?: string, nodeIds: number[] = []): Promise<boolean> {
  const kafka = new Kafka({
    clientId: 'devstack-readiness',
    brokers: [broker],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2_000,
    requestTimeout: 5_000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    if (clusterId !== undefined && cluster.clusterId !== clusterId) {
      throw new Error(`${broker} is answered by another Kafka cluster (${cluster.clusterId}, ours is ${clusterId})`);
    }
    const listed = new Set(cluster.brokers.map((b) => b.nodeId));
    const missing = nodeIds.filter((id) => !listed.has(id));
    if (missing.length > 0) throw new Error(`${broker} does not list node ${missing.join(', ')} yet`);
    return cluster.brokers.length > 0 && cluster.controller !== null;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** True when every node answers with all nodes in the metadata (see kafkaAnswers). */
async function clusterAnswers(host: string, nodes: KafkaNode[], clusterId: string | undefined): Promise<boolean> {
  const ids = nodes.map((n) => n.id);
  const answers = await Promise.all(nodes.map((n) => kafkaAnswers(`${host}:${n.port}`, clusterId, ids)));
  return answers.every(Boolean);
}

export interface StartedKafka {
  /** Node 1's pid (the only one of a one-node cluster). */
  pid: number;
  /** True when every node was running already. */
  alreadyRunning: boolean;
  nodes: Array<{ id: number; pid: number; alreadyRunning: boolean }>;
}

function spawnNode(classpath: string, paths: KafkaNodePaths): Promise<{ pid: number; exited: () => boolean }> {
  const out = fs.openSync(paths.stdoutLog, 'a');
  const child = spawn(
    javaBin(),
    [...jvmArgs(classpath, paths.logsDir, paths.log4j2Properties), 'kafka.Kafka', paths.serverProperties],
    {
      detached: true,
      stdio: ['ignore', out, out],
    },
  );
  fs.closeSync(out);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  return new Promise((resolve, reject) => {
    child.once('spawn', () => {
      child.unref();
      writePid(paths.pidFile, child.pid as number);
      resolve({ pid: child.pid as number, exited: () => exited });
    });
    child.once('error', reject);
  });
}

/**
 * Start the nodes that are not running, in the background (detached; they outlive this process),
 * and resolve once every node answers with all nodes in the cluster metadata. Idempotent: nodes
 * whose pid file names a live broker are left running (so this also restarts one stopped node of
 * a cluster). Port conflicts are the caller's business (see ports.ts).
 */
export async function startKafka(opts: StartKafkaOptions): Promise<StartedKafka> {
  const { dataDir, host, nodes, log } = opts;
  const size = nodes.length;
  const paths = nodes.map((n) => nodePaths(dataDir, n.id, size));
  const brokers = nodes.map((n) => `${host}:${n.port}`).join(',');
  const running = paths.map((p) => runningKafkaPid(p.pidFile));
  const toStart = nodes.flatMap((n, i) => (running[i] === undefined ? [i] : []));
  const readyTimeoutMs = opts.readyTimeoutMs ?? 120_000 * Math.max(1, toStart.length);

  let clusterId = clusterIdOf(paths);
  const started = new Map<number, { pid: number; exited: () => boolean }>();
  if (toStart.length > 0) {
    await checkJava();
    const classpath = await resolveKafkaClasspath(log);
    clusterId ??= newClusterId();
    for (const i of toStart) {
      const p = paths[i];
      fs.mkdirSync(p.dataDir, { recursive: true });
      fs.mkdirSync(p.logsDir, { recursive: true });
      fs.writeFileSync(p.serverProperties, serverProperties({ host, node: nodes[i], nodes, logDirs: p.dataDir }));
      fs.writeFileSync(p.log4j2Properties, log4j2Properties(p.logsDir));
    }
    await Promise.all(toStart.map((i) => formatStorage(classpath, paths[i], clusterId as string, log)));
    // A node of a cluster waits for a controller quorum, so all are started before any is awaited.
    for (const i of toStart) {
      const n = nodes[i];
      const where = size === 1 ? 'the broker' : `node ${n.id}`;
      log(
        `kafka: starting ${where} on ${host}:${n.port} (controller ${host}:${n.controllerPort}; log: ${paths[i].serverLog})`,
      );
      started.set(i, await spawnNode(classpath, paths[i]));
    }
  }

  const alive = () =>
    nodes.every((_, i) => {
      const s = started.get(i);
      return s ? !s.exited() && isAlive(s.pid) : isAlive(running[i] as number);
    });
  let lastProblem = '';
  const answers = async () => {
    try {
      return await clusterAnswers(host, nodes, clusterId);
    } catch (err) {
      lastProblem = (err as Error).message;
      throw err;
    }
  };
  try {
    await waitFor(`Kafka on ${brokers}`, answers, { timeoutMs: readyTimeoutMs, intervalMs: 500, alive });
  } catch (err) {
    for (const [i, s] of started) {
      if (!s.exited() && isAlive(s.pid)) await stopPid(paths[i].pidFile, 10_000);
      fs.rmSync(paths[i].pidFile, { force: true });
    }
    const lastCheck =
      lastProblem && !(err as Error).message.includes(lastProblem) ? ` (last check: ${lastProblem})` : '';
    const excerpts = [...started.keys()].map((i) => logExcerpt(paths[i].serverLog) || logExcerpt(paths[i].stdoutLog));
    throw new Error(`${(err as Error).message}${lastCheck}\n${excerpts.join('\n')}`, { cause: err });
  }
  const list = nodes.map((n, i) => ({
    id: n.id,
    pid: started.get(i)?.pid ?? (running[i] as number),
    alreadyRunning: !started.has(i),
  }));
  return { pid: list[0].pid, alreadyRunning: started.size === 0, nodes: list };
}

/**
 * SIGTERM every node under <dataDir>/kafka (of either layout, whatever DEVSTACK_KAFKA_BROKERS now
 * says) and wait for their controlled shutdown; SIGKILL after timeoutMs.
 * Returns false when no node was running.
 */
export async function stopKafka(dataDir: string, timeoutMs = 30_000): Promise<boolean> {
  const stopped = await Promise.all(allNodePaths(dataDir).map((p) => stopNodeAt(p, timeoutMs)));
  return stopped.some(Boolean);
}

/**
 * Stop one node of a cluster of `size` nodes (SIGTERM, SIGKILL after timeoutMs); false when it was
 * not running. `kill`: SIGKILL at once, no controlled shutdown (a crash, for fault tests); its
 * pid file stays behind like after any crash, and startKafka starts it again.
 */
export function stopKafkaNode(
  dataDir: string,
  nodeId: number,
  size: number,
  timeoutMs = 30_000,
  { kill = false } = {},
): Promise<boolean> {
  const paths = nodePaths(dataDir, nodeId, size);
  return kill ? killPid(paths.pidFile) : stopNodeAt(paths, timeoutMs);
}

async function stopNodeAt(paths: KafkaNodePaths, timeoutMs: number): Promise<boolean> {
  if (runningKafkaPid(paths.pidFile) === undefined) {
    fs.rmSync(paths.pidFile, { force: true });
    return false;
  }
  return stopPid(paths.pidFile, timeoutMs);
}

export interface KafkaNodeStatus {
  id: number;
  running: boolean;
  pid?: number;
  serverLog: string;
}

/**
 * The nodes of a cluster of these nodes (default: the one-node layout). running: every node runs;
 * pid: node 1's.
 */
export function kafkaStatus(
  dataDir: string,
  nodes: readonly { id: number }[] = [{ id: 1 }],
): { running: boolean; pid?: number; nodes: KafkaNodeStatus[] } {
  const list = nodes.map((n) => {
    const p = nodePaths(dataDir, n.id, nodes.length);
    const pid = runningKafkaPid(p.pidFile);
    return pid === undefined
      ? { id: n.id, running: false, serverLog: p.serverLog }
      : { id: n.id, running: true, pid, serverLog: p.serverLog };
  });
  return { running: list.every((n) => n.running), pid: list[0]?.pid, nodes: list };
}

/**
 * Nodes running under <dataDir>/kafka that are not part of a cluster of `size` nodes (e.g. the
 * one-node broker when DEVSTACK_KAFKA_BROKERS is now 3): `up` refuses to start beside them.
 */
export function strayKafkaNodes(dataDir: string, size: number): string[] {
  const own = new Set(Array.from({ length: size }, (_, i) => nodePaths(dataDir, i + 1, size).pidFile));
  return allNodePaths(dataDir)
    .filter((p) => !own.has(p.pidFile) && runningKafkaPid(p.pidFile) !== undefined)
    .map((p) => p.root);
}
