/**
 * The broker's classpath is resolved by Maven once per pom and cached per pom, so checkouts of
 * different Kafka versions that share the cache directory never start each other's jars.
 * Runs Maven on packages/devstack/pom.xml (the jars come from ~/.m2 once downloaded).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveKafkaClasspath } from '../src/kafka';

const pom = path.resolve(__dirname, '..', 'pom.xml');
const pomKey = crypto.createHash('sha256').update(fs.readFileSync(pom)).digest('hex').slice(0, 16);
const kafkaVersion = /<kafka\.version>([^<]+)</.exec(fs.readFileSync(pom, 'utf8'))![1];

let cache: string;
const saved = process.env.DEVSTACK_CACHE_DIR;

beforeEach(() => {
  cache = fs.mkdtempSync(path.join(os.tmpdir(), 'devstack-classpath-'));
  process.env.DEVSTACK_CACHE_DIR = cache;
});

afterEach(() => {
  if (saved === undefined) delete process.env.DEVSTACK_CACHE_DIR;
  else process.env.DEVSTACK_CACHE_DIR = saved;
  fs.rmSync(cache, { recursive: true, force: true });
});

test('resolved once into a file named for this pom, then read from it; classpath.txt is a copy', async () => {
  const logs: string[] = [];
  const first = await resolveKafkaClasspath((m) => logs.push(m));
  expect(first).toContain(`kafka_2.13-${kafkaVersion}.jar`);
  expect(fs.readFileSync(path.join(cache, `classpath-${pomKey}.txt`), 'utf8').trim()).toBe(first);
  expect(fs.readFileSync(path.join(cache, 'classpath.txt'), 'utf8').trim()).toBe(first);
  expect(logs.filter((m) => m.includes('resolving'))).toHaveLength(1);

  const second = await resolveKafkaClasspath((m) => logs.push(m));
  expect(second).toBe(first);
  expect(logs.filter((m) => m.includes('resolving'))).toHaveLength(1);
}, 300_000);

test('another checkout’s classpath in the shared cache (another pom, another Kafka) is never taken', async () => {
  const other = '/nonexistent/kafka_2.13-3.9.1.jar';
  fs.writeFileSync(path.join(cache, 'classpath.txt'), `${other}\n`);
  fs.writeFileSync(path.join(cache, 'classpath-0123456789abcdef.txt'), `${other}\n`);
  const classpath = await resolveKafkaClasspath(() => undefined);
  expect(classpath).not.toContain(other);
  expect(classpath).toContain(`kafka_2.13-${kafkaVersion}.jar`);
  expect(fs.readFileSync(path.join(cache, 'classpath-0123456789abcdef.txt'), 'utf8').trim()).toBe(other);
}, 300_000);

test('a cached classpath naming a jar that is gone is resolved again', async () => {
  fs.writeFileSync(path.join(cache, `classpath-${pomKey}.txt`), '/nonexistent/gone.jar\n');
  const logs: string[] = [];
  const classpath = await resolveKafkaClasspath((m) => logs.push(m));
  expect(classpath).toContain(`kafka_2.13-${kafkaVersion}.jar`);
  expect(logs.filter((m) => m.includes('resolving'))).toHaveLength(1);
}, 300_000);
