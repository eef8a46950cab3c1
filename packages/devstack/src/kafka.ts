import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { cacheDir } from './paths';
import { isAlive, runningPid, stopPid, waitFor, writePid } from './process';

/**
 * A real Apache Kafka broker (3.9, KRaft, one node acting as broker and controller) run from
 * the official jars. Maven resolves the jars from packages/devstack/pom.xml into ~/.m2; the
 * resulting classpath is cached in cacheDir(). Files under <dataDir>/kafka:
 *
 *   server.properties, log4j.properties   written on every start
 *   data/                                 the log dirs (formatted once, on first start)
 *   logs/server.log                       the broker's log
 *   logs/stdout.log                       the JVM's stdout and stderr (crashes land here)
 *   kafka.pid                             pid of the running broker
 */

export type Log = (msg: string) => void;

export interface StartKafkaOptions {
  /** The devstack directory; Kafka lives in <dataDir>/kafka. */
  dataDir: string;
  /** Address both listeners bind to and the broker advertises, e.g. 127.0.0.1. */
  host: string;
  /** Client (PLAINTEXT) listener port, e.g. 9092. */
  port: number;
  /** KRaft controller listener port, e.g. 9093. */
  controllerPort: number;
  log: Log;
  /** How long to wait for the broker to answer a metadata request. Default 120 s. */
  readyTimeoutMs?: number;
}

/** JVM heap unless KAFKA_HEAP_OPTS is set (the variable Kafka's own scripts read). */
export const DEFAULT_KAFKA_HEAP_OPTS = '-Xms256m -Xmx1g';

const pomFile = path.resolve(__dirname, '..', 'pom.xml');

export function kafkaPaths(dataDir: string) {
  const root = path.join(dataDir, 'kafka');
  return {
    root,
    dataDir: path.join(root, 'data'),
    logsDir: path.join(root, 'logs'),
    pidFile: path.join(root, 'kafka.pid'),
    serverProperties: path.join(root, 'server.properties'),
    log4jProperties: path.join(root, 'log4j.properties'),
    serverLog: path.join(root, 'logs', 'server.log'),
    stdoutLog: path.join(root, 'logs', 'stdout.log'),
  };
}

// ---------------------------------------------------------------------------------------------
// Java and Maven

function javaBin(): string {
  return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

/** Run a command to completion; resolves with its exit code and combined output. */
function run(cmd: string, args: string[], opts: { outputFile?: string } = {}): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    const out = opts.outputFile ? fs.createWriteStream(opts.outputFile) : undefined;
    const collect = (chunk: Buffer) => {
      chunks.push(chunk);
      out?.write(chunk);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (err) => {
      out?.end();
      reject(err);
    });
    child.on('close', (code) => {
      const output = Buffer.concat(chunks).toString('utf8');
      if (out) out.end(() => resolve({ code: code ?? 1, output }));
      else resolve({ code: code ?? 1, output });
    });
  });
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
      throw new Error(`Java 17+ is required to run the devstack's Kafka broker, but \`${javaBin()}\` was not found. ${javaInstallHint}`);
    }
    throw err;
  }
  const match = /version "(\d+)(?:\.(\d+))?/.exec(result.output);
  if (!match) throw new Error(`Could not read the Java version from \`${javaBin()} -version\`:\n${result.output}`);
  // "1.8.0_392" is Java 8; "17.0.15" is Java 17.
  const major = match[1] === '1' ? Number(match[2]) : Number(match[1]);
  if (major < 17) {
    throw new Error(`Java 17+ is required to run Kafka 3.9, but \`${javaBin()}\` is Java ${major}. ${javaInstallHint}`);
  }
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function readCachedClasspath(classpathFile: string, hashFile: string, pomHash: string): string | undefined {
  try {
    if (fs.readFileSync(hashFile, 'utf8').trim() !== pomHash) return undefined;
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
 * when the cached classpath is missing, was built from another version of the pom, or names a
 * jar that is gone. Maven keeps the jars in its local repository (~/.m2); its output goes to
 * <cacheDir>/mvn.log.
 */
export async function resolveKafkaClasspath(log: Log): Promise<string> {
  const dir = cacheDir();
  const classpathFile = path.join(dir, 'classpath.txt');
  const hashFile = path.join(dir, 'classpath.pom.sha256');
  const mvnLog = path.join(dir, 'mvn.log');
  const pomHash = sha256(pomFile);

  const cached = readCachedClasspath(classpathFile, hashFile, pomHash);
  if (cached) return cached;

  fs.mkdirSync(dir, { recursive: true });
  log(`kafka: resolving the broker's jars with Maven (the first run downloads ~50 MB into ~/.m2; log: ${mvnLog})`);
  const tmpFile = `${classpathFile}.${process.pid}.tmp`;
  const started = Date.now();
  let result;
  try {
    result = await run('mvn', ['-q', '-B', '-f', pomFile, 'dependency:build-classpath', `-Dmdep.outputFile=${tmpFile}`], {
      outputFile: mvnLog,
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(
        'Maven (`mvn`) is required to fetch the Kafka broker jars, but it was not found on PATH. ' +
          'Install it (Debian/Ubuntu: `sudo apt-get install maven`) and run the devstack again.',
      );
    }
    throw err;
  }
  if (result.code !== 0 || !fs.existsSync(tmpFile)) {
    fs.rmSync(tmpFile, { force: true });
    throw new Error(`mvn dependency:build-classpath failed (exit ${result.code}); see ${mvnLog}:\n${tail(result.output, 20)}`);
  }
  fs.renameSync(tmpFile, classpathFile);
  fs.writeFileSync(hashFile, `${pomHash}\n`);
  log(`kafka: jars resolved in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return fs.readFileSync(classpathFile, 'utf8').trim();
}

// ---------------------------------------------------------------------------------------------
// Configuration files

export function serverProperties(opts: { host: string; port: number; controllerPort: number; logDirs: string }): string {
  const { host, port, controllerPort, logDirs } = opts;
  return [
    '# Written by @mockstagram/devstack on every start; edits are overwritten.',
    '# KRaft, one node that is both broker and controller.',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${host}:${controllerPort}`,
    `listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://${host}:${port}`,
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    'controller.listener.names=CONTROLLER',
    `log.dirs=${logDirs}`,
    '',
    '# Topics are created explicitly, like in production.',
    'auto.create.topics.enable=false',
    'num.partitions=1',
    'default.replication.factor=1',
    'min.insync.replicas=1',
    '',
    '# A single node cannot replicate internal topics.',
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
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

export function log4jProperties(logsDir: string): string {
  // Same appenders as Kafka's config/log4j.properties, but everything in one rolling file, nothing on stdout.
  return [
    '# Written by @mockstagram/devstack on every start; edits are overwritten.',
    'log4j.rootLogger=INFO, server',
    'log4j.appender.server=org.apache.log4j.RollingFileAppender',
    `log4j.appender.server.File=${path.join(logsDir, 'server.log')}`,
    'log4j.appender.server.MaxFileSize=20MB',
    'log4j.appender.server.MaxBackupIndex=3',
    'log4j.appender.server.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.server.layout.ConversionPattern=[%d] %p %m (%c)%n',
    'log4j.logger.kafka=INFO',
    'log4j.logger.org.apache.kafka=INFO',
    'log4j.logger.kafka.request.logger=WARN',
    'log4j.logger.kafka.controller=INFO',
    'log4j.logger.kafka.log.LogCleaner=INFO',
    'log4j.logger.state.change.logger=INFO',
    'log4j.logger.kafka.authorizer.logger=INFO',
    '',
  ].join('\n');
}

/** 16 random bytes, base64url without padding: the format `kafka-storage random-uuid` prints. */
export function newClusterId(): string {
  return crypto.randomBytes(16).toString('base64url');
}

function jvmArgs(classpath: string, logsDir: string, log4jFile: string): string[] {
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
    `-Dlog4j.configuration=file:${log4jFile}`,
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

/** Format the log dirs for KRaft unless they already are (first start only). */
async function formatStorage(classpath: string, paths: ReturnType<typeof kafkaPaths>, log: Log): Promise<void> {
  if (fs.existsSync(path.join(paths.dataDir, 'meta.properties'))) return;
  const clusterId = newClusterId();
  log(`kafka: formatting ${paths.dataDir} (cluster id ${clusterId})`);
  const formatLog = path.join(paths.logsDir, 'format.log');
  const args = [
    '-Xmx256m',
    `-Dlog4j.configuration=file:${paths.log4jProperties}`,
    '-cp',
    classpath,
    'kafka.tools.StorageTool',
    'format',
    '-t',
    clusterId,
    '-c',
    paths.serverProperties,
    '--ignore-formatted',
  ];
  const result = await run(javaBin(), args, { outputFile: formatLog });
  if (result.code !== 0) {
    throw new Error(`kafka-storage format failed (exit ${result.code}); see ${formatLog}:\n${tail(result.output, 20)}`);
  }
}

/** The cluster id the storage was formatted with (from <data>/meta.properties), if formatted. */
export function formattedClusterId(dataDir: string): string | undefined {
  try {
    const meta = fs.readFileSync(path.join(kafkaPaths(dataDir).dataDir, 'meta.properties'), 'utf8');
    return /^cluster\.id=(.+)$/m.exec(meta)?.[1].trim();
  } catch {
    return undefined;
  }
}

/**
 * True when the broker at host:port answers a metadata request and lists itself. With clusterId,
 * only when it is that cluster (so another broker already on the port does not count as ours).
 */
export async function kafkaAnswers(broker: string, clusterId?: string): Promise<boolean> {
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
    return cluster.brokers.length > 0 && cluster.controller !== null;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * Start the broker in the background (detached; it outlives this process) and resolve once it
 * answers a metadata request. Idempotent: when the pid file names a live broker, returns it with
 * alreadyRunning = true. Port conflicts are the caller's business (see ports.ts).
 */
export async function startKafka(opts: StartKafkaOptions): Promise<{ pid: number; alreadyRunning: boolean }> {
  const { dataDir, host, port, controllerPort, log, readyTimeoutMs = 120_000 } = opts;
  const paths = kafkaPaths(dataDir);
  const broker = `${host}:${port}`;

  const existing = runningKafkaPid(paths.pidFile);
  if (existing !== undefined) {
    const clusterId = formattedClusterId(dataDir);
    await waitFor(`Kafka on ${broker}`, () => kafkaAnswers(broker, clusterId), {
      timeoutMs: readyTimeoutMs,
      intervalMs: 500,
      alive: () => isAlive(existing),
    });
    return { pid: existing, alreadyRunning: true };
  }

  await checkJava();
  const classpath = await resolveKafkaClasspath(log);

  fs.mkdirSync(paths.dataDir, { recursive: true });
  fs.mkdirSync(paths.logsDir, { recursive: true });
  fs.writeFileSync(paths.serverProperties, serverProperties({ host, port, controllerPort, logDirs: paths.dataDir }));
  fs.writeFileSync(paths.log4jProperties, log4jProperties(paths.logsDir));
  await formatStorage(classpath, paths, log);

  log(`kafka: starting the broker on ${broker} (controller ${host}:${controllerPort}; log: ${paths.serverLog})`);
  const out = fs.openSync(paths.stdoutLog, 'a');
  const child = spawn(
    javaBin(),
    [...jvmArgs(classpath, paths.logsDir, paths.log4jProperties), 'kafka.Kafka', paths.serverProperties],
    { detached: true, stdio: ['ignore', out, out] },
  );
  fs.closeSync(out);
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid as number));
    child.once('error', reject);
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  child.unref();
  writePid(paths.pidFile, pid);

  const clusterId = formattedClusterId(dataDir);
  let lastProblem = '';
  const answers = async () => {
    try {
      return await kafkaAnswers(broker, clusterId);
    } catch (err) {
      lastProblem = (err as Error).message;
      throw err;
    }
  };
  try {
    await waitFor(`Kafka on ${broker}`, answers, {
      timeoutMs: readyTimeoutMs,
      intervalMs: 500,
      alive: () => !exited && isAlive(pid),
    });
  } catch (err) {
    if (!exited && isAlive(pid)) await stopPid(paths.pidFile, 10_000);
    fs.rmSync(paths.pidFile, { force: true });
    const lastCheck = lastProblem && !(err as Error).message.includes(lastProblem) ? ` (last check: ${lastProblem})` : '';
    throw new Error(`${(err as Error).message}${lastCheck}\n${logExcerpt(paths.serverLog) || logExcerpt(paths.stdoutLog)}`);
  }
  return { pid, alreadyRunning: false };
}

/**
 * SIGTERM the broker and wait for its controlled shutdown (usually 5-10 s); SIGKILL after
 * timeoutMs. Returns false when no broker was running.
 */
export async function stopKafka(dataDir: string, timeoutMs = 30_000): Promise<boolean> {
  const { pidFile } = kafkaPaths(dataDir);
  if (runningKafkaPid(pidFile) === undefined) {
    fs.rmSync(pidFile, { force: true });
    return false;
  }
  return stopPid(pidFile, timeoutMs);
}

export function kafkaStatus(dataDir: string): { running: boolean; pid?: number } {
  const pid = runningKafkaPid(kafkaPaths(dataDir).pidFile);
  return pid === undefined ? { running: false } : { running: true, pid };
}
