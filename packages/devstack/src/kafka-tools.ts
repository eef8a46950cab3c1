import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { resolveKafkaClasspath } from './kafka';
import { cacheDir } from './paths';

/**
 * `yarn devstack topics | tail | lag`: Kafdrop's views without Docker, from Kafka's own
 * command-line tools (the classes behind kafka-topics.sh, kafka-get-offsets.sh,
 * kafka-console-consumer.sh and kafka-consumer-groups.sh) in the jars the devstack already
 * resolves: Kafka 4's kafka-tools jar, where these commands live under org.apache.kafka.tools.
 * Their output is parsed and printed as tables; message values are pretty-printed JSON.
 */
export const TOOL_CLASSES = {
  topics: 'org.apache.kafka.tools.TopicCommand',
  offsets: 'org.apache.kafka.tools.GetOffsetShell',
  consumer: 'org.apache.kafka.tools.consumer.ConsoleConsumer',
  groups: 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand',
} as const;

export type Log = (message: string) => void;

function javaBin(): string {
  return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

/** Tools log warnings and errors to stderr only (Kafka 4 logs through log4j2). */
function loggingArgs(): string[] {
  const dir = path.join(cacheDir(), 'kafka-tools');
  fs.mkdirSync(dir, { recursive: true });
  const log4j2 = path.join(dir, 'log4j2.properties');
  fs.writeFileSync(
    log4j2,
    [
      'appender.stderr.type=Console',
      'appender.stderr.name=STDERR',
      'appender.stderr.target=SYSTEM_ERR',
      'appender.stderr.layout.type=PatternLayout',
      'appender.stderr.layout.pattern=[%d] %p %m (%c)%n',
      'rootLogger.level=warn',
      'rootLogger.appenderRef.stderr.ref=STDERR',
      '',
    ].join('\n'),
  );
  return [`-Dlog4j2.configurationFile=${log4j2}`];
}

async function javaArgs(mainClass: string, args: string[], log: Log): Promise<string[]> {
  const classpath = await resolveKafkaClasspath(log);
  return ['-Xmx256m', '-XX:TieredStopAtLevel=1', ...loggingArgs(), '-cp', classpath, mainClass, ...args];
}

/** Run a tool to completion; its stdout, or an error with its stderr. */
async function runTool(mainClass: string, args: string[], log: Log): Promise<string> {
  const argv = await javaArgs(mainClass, args, log);
  return new Promise((resolve, reject) => {
    const child = spawn(javaBin(), argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'ENOENT'
          ? new Error(
              `\`${javaBin()}\` was not found: install a JRE 17+ (Debian: apt-get install openjdk-17-jre-headless)`,
            )
          : e,
      ),
    );
    child.once('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${mainClass.split('.').pop()} exited with ${code}:\n${(err || out).trim()}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// topics

export interface TopicInfo {
  topic: string;
  partitions: number;
  /** Messages retained: the sum over partitions of the latest minus the earliest offset. */
  messages: number;
}

/** `topic:partition:offset` lines → offset per "topic:partition". */
function parseOffsets(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(.+):(\d+):(\d*)$/.exec(line.trim());
    if (m) out.set(`${m[1]}:${m[2]}`, m[3] === '' ? 0 : Number(m[3]));
  }
  return out;
}

export async function listTopics(bootstrap: string, log: Log): Promise<TopicInfo[]> {
  const common = ['--bootstrap-server', bootstrap];
  const [described, latest, earliest] = await Promise.all([
    runTool(TOOL_CLASSES.topics, [...common, '--describe', '--exclude-internal'], log),
    runTool(TOOL_CLASSES.offsets, [...common, '--time', '-1', '--exclude-internal-topics'], log),
    runTool(TOOL_CLASSES.offsets, [...common, '--time', '-2', '--exclude-internal-topics'], log),
  ]);
  const end = parseOffsets(latest);
  const start = parseOffsets(earliest);
  const topics: TopicInfo[] = [];
  for (const line of described.split('\n')) {
    const m = /^Topic:\s*(\S+)\s.*PartitionCount:\s*(\d+)/.exec(line);
    if (!m) continue;
    const [, topic, count] = m;
    let messages = 0;
    for (let p = 0; p < Number(count); p++)
      messages += (end.get(`${topic}:${p}`) ?? 0) - (start.get(`${topic}:${p}`) ?? 0);
    topics.push({ topic: topic, partitions: Number(count), messages });
  }
  return topics.sort((a, b) => a.topic.localeCompare(b.topic));
}

// ---------------------------------------------------------------------------------------------
// lag

export interface PartitionLag {
  group: string;
  topic: string;
  partition: number;
  /** The group's committed offset; undefined when it has committed none on this partition. */
  committed?: number;
  end: number;
  lag: number;
  /** The member consuming the partition now, or undefined when none is. */
  consumer?: string;
}

export async function consumerLag(bootstrap: string, log: Log, group?: string): Promise<PartitionLag[]> {
  const text = await runTool(
    TOOL_CLASSES.groups,
    ['--bootstrap-server', bootstrap, '--describe', ...(group ? ['--group', group] : ['--all-groups'])],
    log,
  );
  const rows: PartitionLag[] = [];
  for (const line of text.split('\n')) {
    const cells = line.trim().split(/\s+/);
    if (cells.length < 6 || cells[0] === 'GROUP' || !/^\d+$/.test(cells[2])) continue;
    const [g, topic, partition, current, end, lag, consumer] = cells;
    const endOffset = Number(end);
    rows.push({
      group: g,
      topic: topic,
      partition: Number(partition),
      committed: /^\d+$/.test(current) ? Number(current) : undefined,
      end: endOffset,
      lag: /^\d+$/.test(lag) ? Number(lag) : endOffset,
      consumer: consumer && consumer !== '-' ? consumer : undefined,
    });
  }
  return rows.sort(
    (a, b) => a.group.localeCompare(b.group) || a.topic.localeCompare(b.topic) || a.partition - b.partition,
  );
}

// ---------------------------------------------------------------------------------------------
// tail

export interface TailedMessage {
  topic: string;
  partition: number;
  offset: number;
  timestamp: string;
  key: string | null;
  headers: Record<string, string>;
  /** The value parsed as JSON, or the text when it is not JSON. */
  value: unknown;
}

// Control characters as separators, so keys, header values and JSON never contain them.
const FIELD = '\x1f';
const HEADER = '\x1e';
const RECORD = '\x1d';

function parseRecord(topic: string, record: string): TailedMessage | undefined {
  const fields = record.split(FIELD);
  if (fields.length < 6) return undefined;
  const [time, partition, offset, headers, key, ...value] = fields;
  const headerMap: Record<string, string> = {};
  if (headers !== 'NO_HEADERS') {
    for (const h of headers.split(HEADER)) {
      const colon = h.indexOf(':');
      if (colon > 0) headerMap[h.slice(0, colon)] = h.slice(colon + 1);
    }
  }
  const text = value.join(FIELD);
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: shown as text
  }
  const ms = Number(time.replace(/^\D+:/, ''));
  return {
    topic,
    partition: Number(partition.replace(/^Partition:/, '')),
    offset: Number(offset.replace(/^Offset:/, '')),
    timestamp: Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString() : time,
    key: key === 'null' ? null : key,
    headers: headerMap,
    value: parsed,
  };
}

export interface TailOptions {
  fromBeginning?: boolean;
  /** Stop after this many messages (default: run until stopped). */
  maxMessages?: number;
  /** Stop when no message arrives for this long. */
  idleTimeoutMs?: number;
}

/**
 * Follow a topic with Kafka's console consumer (no consumer group offsets are committed: it
 * reads as an anonymous group) and call onMessage for each message. Resolves when the consumer
 * stops (maxMessages, idle timeout, or stop() called).
 */
export async function tailTopic(
  bootstrap: string,
  topic: string,
  opts: TailOptions,
  onMessage: (m: TailedMessage) => void,
  log: Log,
): Promise<{ stop: () => void; done: Promise<void> }> {
  const args = [
    '--bootstrap-server',
    bootstrap,
    '--topic',
    topic,
    '--property',
    'print.timestamp=true',
    '--property',
    'print.partition=true',
    '--property',
    'print.offset=true',
    '--property',
    'print.headers=true',
    '--property',
    'print.key=true',
    '--property',
    `key.separator=${FIELD}`,
    '--property',
    `headers.separator=${HEADER}`,
    '--property',
    `line.separator=${RECORD}`,
    // read only: commit nothing, so tailing never moves anyone's offsets
    '--consumer-property',
    'enable.auto.commit=false',
  ];
  if (opts.fromBeginning) args.push('--from-beginning');
  if (opts.maxMessages !== undefined) args.push('--max-messages', String(opts.maxMessages));
  if (opts.idleTimeoutMs !== undefined) args.push('--timeout-ms', String(opts.idleTimeoutMs));
  const child = spawn(javaBin(), await javaArgs(TOOL_CLASSES.consumer, args, log), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buffer = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    buffer += d.toString();
    let end: number;
    while ((end = buffer.indexOf(RECORD)) >= 0) {
      const m = parseRecord(topic, buffer.slice(0, end));
      buffer = buffer.slice(end + 1);
      if (m) onMessage(m);
    }
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  let stopped = false;
  const done = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      // --timeout-ms ends the consumer with a TimeoutException and exit code 1: that is the asked-for end.
      const idleEnd = opts.idleTimeoutMs !== undefined && /TimeoutException/.test(err);
      if (code === 0 || stopped || idleEnd) resolve();
      else reject(new Error(`the console consumer exited with ${code}:\n${err.trim()}`));
    });
  });
  return {
    stop: () => {
      stopped = true;
      child.kill('SIGTERM');
    },
    done,
  };
}

// ---------------------------------------------------------------------------------------------
// Printing

export function formatTopics(topics: TopicInfo[]): string {
  return table(
    ['TOPIC', 'PARTITIONS', 'MESSAGES'],
    topics.map((t) => [t.topic, String(t.partitions), String(t.messages)]),
  );
}

export function formatLag(rows: PartitionLag[]): string {
  if (rows.length === 0) return 'no consumer groups';
  const out: string[] = [];
  for (const group of [...new Set(rows.map((r) => r.group))]) {
    const mine = rows.filter((r) => r.group === group);
    const total = mine.reduce((sum, r) => sum + r.lag, 0);
    const members = new Set(mine.map((r) => r.consumer).filter(Boolean)).size;
    out.push(`${group}: lag ${total} (${members} active member${members === 1 ? '' : 's'})`);
    out.push(
      table(
        ['TOPIC', 'PARTITION', 'COMMITTED', 'END', 'LAG', 'CONSUMER'],
        mine.map((r) => [
          r.topic,
          String(r.partition),
          r.committed === undefined ? '-' : String(r.committed),
          String(r.end),
          String(r.lag),
          r.consumer ?? '-',
        ]),
      ),
      '',
    );
  }
  return out.join('\n').trimEnd();
}

/**
 * One message: where it is, its key, the DLQ's x-dlq-* headers (always: they say why it is
 * there), every other header with `headers`, and its value as indented JSON.
 */
export function formatMessage(m: TailedMessage, opts: { headers: boolean }): string {
  const lines = [
    `--- ${m.topic} partition ${m.partition} offset ${m.offset}  ${m.timestamp}  key ${m.key ?? '(none)'}`,
  ];
  const dlq = (name: string) => name.startsWith('x-dlq-');
  const names = Object.keys(m.headers)
    .filter((name) => opts.headers || dlq(name))
    .sort((a, b) => Number(dlq(b)) - Number(dlq(a)) || a.localeCompare(b));
  for (const name of names) lines.push(`${name}: ${m.headers[name]}`);
  lines.push(typeof m.value === 'string' ? m.value : JSON.stringify(m.value, null, 2));
  return lines.join('\n');
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
