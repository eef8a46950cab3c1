/**
 * compose's Kafka, configured the way the apache/kafka image configures itself: its entry point
 * runs `kafka.docker.KafkaDockerWrapper setup` (in Kafka's core jar, kafka_2.13), which turns the
 * container's KAFKA_* variables into server.properties and formats the storage (which validates
 * the configuration as the broker would). Here that class runs from the jars the devstack resolves,
 * the image's Kafka version, on compose's kafka environment; the generated file is then checked.
 * The healthcheck's tool runs here too, with the heap the healthcheck gives it.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { resolveKafkaClasspath, serverProperties } from '@mockstagram/devstack';
import { kafkaBrokers } from '@mockstagram/testkit';
import { loadCompose, loadComposeRaw, publishedPorts } from './support';

const run = promisify(execFile);
const compose = loadCompose();
const kafka = compose.services.kafka;
const log = (message: string) => console.log(`[devstack] ${message}`);

let classpath: string;
let work: string;
let generated: Record<string, string>;
let wrapperOutput: string;

function readProperties(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([^#=\s][^=]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1].trim()] = m[2].trim();
  }
  return out;
}

beforeAll(async () => {
  classpath = await resolveKafkaClasspath(log);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'kafka-docker-wrapper-'));
  for (const dir of ['defaults', 'mounted', 'final', 'data']) fs.mkdirSync(path.join(work, dir));
  // The container's environment is compose's; only the log directory is moved to a place this
  // machine can write (the container's /var/lib/kafka/data is a volume).
  const containerEnv = Object.fromEntries(Object.entries(kafka.environment!).map(([k, v]) => [k, String(v)]));
  const env = {
    PATH: process.env.PATH!,
    ...(process.env.JAVA_HOME ? { JAVA_HOME: process.env.JAVA_HOME } : {}),
    ...containerEnv,
    KAFKA_LOG_DIRS: path.join(work, 'data'),
  };
  const java = process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  const { stdout, stderr } = await run(
    java,
    [
      '-Xmx256m',
      '-cp',
      classpath,
      'kafka.docker.KafkaDockerWrapper',
      'setup',
      '--default-configs-dir',
      path.join(work, 'defaults'),
      '--mounted-configs-dir',
      path.join(work, 'mounted'),
      '--final-configs-dir',
      path.join(work, 'final'),
    ],
    { env },
  );
  wrapperOutput = `${stdout}${stderr}`;
  generated = readProperties(fs.readFileSync(path.join(work, 'final', 'server.properties'), 'utf8'));
}, 300_000);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

test('the jars are the Kafka version of the image compose runs', () => {
  const jarVersion = /kafka_2\.13-([\d.]+)\.jar/.exec(classpath)?.[1];
  expect(kafka.image).toBe(`apache/kafka:${jarVersion}`);
});

test('the image’s wrapper accepts the environment: server.properties written, storage formatted with the cluster id', () => {
  expect(wrapperOutput).toMatch(/Formatting metadata directory/);
  const meta = readProperties(fs.readFileSync(path.join(work, 'data', 'meta.properties'), 'utf8'));
  expect(meta['cluster.id']).toBe(String(kafka.environment!.CLUSTER_ID));
  expect(meta['node.id']).toBe(generated['node.id']);
});

test('every generated property is a broker setting from a KAFKA_* variable (no JVM option leaked in)', () => {
  const fromVariables = Object.keys(kafka.environment!)
    .filter((k) => k.startsWith('KAFKA_') && k !== 'KAFKA_HEAP_OPTS')
    .map((k) => k.slice('KAFKA_'.length).toLowerCase().replace(/_/g, '.'));
  expect(Object.keys(generated).sort()).toEqual(fromVariables.sort());
  expect(Object.keys(generated).filter((k) => /heap|opts/.test(k))).toEqual([]);
});

test('KRaft single node: broker and controller, the quorum is this node on its CONTROLLER listener', () => {
  expect(generated['process.roles']).toBe('broker,controller');
  const listeners = Object.fromEntries(
    generated.listeners.split(',').map((l) => /^(\w+):\/\/[^:]*:(\d+)$/.exec(l)!.slice(1, 3) as [string, string]),
  );
  const [voterNode, voterAddress] = generated['controller.quorum.voters'].split('@');
  expect(voterNode).toBe(generated['node.id']);
  expect(voterAddress).toBe(`kafka:${listeners[generated['controller.listener.names']]}`);
  const protocols = Object.fromEntries(
    generated['listener.security.protocol.map'].split(',').map((p) => p.split(':') as [string, string]),
  );
  expect(Object.keys(protocols).sort()).toEqual(Object.keys(listeners).sort());
  expect(listeners).toHaveProperty([generated['inter.broker.listener.name']]);
});

test('clients reach it where compose says: containers at KAFKA_BROKERS, the host on the published port', () => {
  const listeners = Object.fromEntries(
    generated.listeners.split(',').map((l) => /^(\w+):\/\/[^:]*:(\d+)$/.exec(l)!.slice(1, 3) as [string, string]),
  );
  const advertised = generated['advertised.listeners']
    .split(',')
    .map((l) => /^(\w+):\/\/(.+)$/.exec(l)!.slice(1, 3) as [string, string]);
  for (const [name, address] of advertised) expect([name, address.split(':')[1]]).toEqual([name, listeners[name]]);
  const addresses = advertised.map(([, address]) => address);
  const appBrokers = String((loadComposeRaw()['x-kafka-env'] as Record<string, string>).KAFKA_BROKERS);
  expect(addresses).toContain(appBrokers);
  const published = publishedPorts(kafka).map((p) => `localhost:${p.published}`);
  expect(addresses).toEqual(expect.arrayContaining(published));
});

test('it behaves like the devstack’s broker: no topic auto-creation, single-node replication, no rebalance delay', () => {
  const node = { id: 1, port: 9092, controllerPort: 9093 };
  const devstack = readProperties(serverProperties({ host: '127.0.0.1', node, nodes: [node], logDirs: '/tmp/x' }));
  for (const key of [
    'auto.create.topics.enable',
    'offsets.topic.replication.factor',
    'transaction.state.log.replication.factor',
    'transaction.state.log.min.isr',
    'group.initial.rebalance.delay.ms',
  ]) {
    expect([key, generated[key]]).toEqual([key, devstack[key]]);
  }
});

test('the healthcheck runs its tool with a small heap of its own, and the tool works with it', async () => {
  const command = ([] as string[]).concat(kafka.healthcheck!.test!).join(' ');
  const heap = /KAFKA_HEAP_OPTS='([^']+)'\s+\/opt\/kafka\/bin\/kafka-broker-api-versions\.sh/.exec(command)?.[1];
  expect(heap).toBeDefined();
  const mb = (opt: string) => {
    const m = /^(\d+)([mg])$/i.exec(opt)!;
    return Number(m[1]) * (m[2].toLowerCase() === 'g' ? 1024 : 1);
  };
  const xmx = mb(/-Xmx(\S+)/.exec(heap!)![1]);
  const brokerXms = mb(/-Xms(\S+)/.exec(String(kafka.environment!.KAFKA_HEAP_OPTS))![1]);
  expect(xmx).toBeLessThan(brokerXms);
  // The class the script runs (Kafka 4's tools jar; kafka.admin.* left the core jar).
  const java = process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  const { stdout } = await run(java, [
    ...heap!.split(/\s+/),
    '-cp',
    classpath,
    'org.apache.kafka.tools.BrokerApiVersionsCommand',
    '--bootstrap-server',
    kafkaBrokers()[0],
  ]);
  expect(stdout).toMatch(/\(id: \d+ rack: .*\) -> \(/);
}, 120_000);
