/**
 * The drain of a pre-filled results topic into the hypertable, shared by `yarn bench parts`
 * (its `sink` part: ours alone) and `yarn bench peers` (ours beside Telegraf): one topic, every
 * sink run `runs` times, interleaved, each run timed by runSink (bench/lib/sink.ts).
 */
import { createTopics } from '@mockstagram/testkit';
import { prefillResults } from './kafka';
import type { Report } from './report';
import { runSink, TelegrafSink, type Sink, type SinkRunResult } from './sink';

export interface DrainOptions {
  runs: number;
  messages: number;
  influencers: number;
  /** Live phase after the drain (0 to skip): results/s for that many seconds, lag measured. */
  liveSeconds: number;
  liveRate: number;
}

/** Prefills a fresh topic and runs every sink `runs` times, interleaved (a, b, a, b, ...). */
export async function measureSinks(
  sinks: Sink[],
  o: DrainOptions,
  report: Report,
): Promise<Map<string, SinkRunResult[]>> {
  const topics = await createTopics(['bench-results', 'bench-dlq'], 12);
  const [topic, dlqTopic] = topics.names as [string, string];
  const results = new Map<string, SinkRunResult[]>(sinks.map((s) => [s.name, []]));
  try {
    const prefill = await prefillResults(topic, o.messages, o.influencers);
    console.log(
      `prefilled ${o.messages} results (${o.influencers} influencers, 12 partitions) in ${prefill.toFixed(1)} s`,
    );
    report.command(
      `prefill: ${o.messages} FetchResult messages (${o.influencers} influencers × ${Math.ceil(o.messages / o.influencers)} samples) into a fresh 12-partition topic, 3 parallel idempotent kafkajs producers, 12,000-message sendBatch calls (bench/lib/kafka.ts prefillResults)`,
    );
    for (const s of sinks) report.command(`sink ${s.name}: ${s.describe()}`);
    for (let i = 0; i < o.runs; i++) {
      for (const sink of sinks) {
        try {
          const r = await runSink(sink, {
            topic,
            dlqTopic,
            messages: o.messages,
            liveSeconds: o.liveSeconds,
            liveRate: o.liveRate,
          });
          console.log(
            `  ${sink.name} run ${i + 1}: ${Math.round(r.rowsPerSec)} rows/s (${r.seconds.toFixed(1)} s), inserts ${Math.round(r.insertRowsPerSec)} rows/s, ` +
              `CPU ${r.cpuSeconds?.toFixed(1)} s (database ${r.dbCpuSeconds?.toFixed(1) ?? '?'} s), peak RSS ${r.peakRssMb?.toFixed(0)} MB` +
              (r.lag
                ? `, live lag p50 ${r.lag.p50Ms.toFixed(0)} ms p99 ${r.lag.p99Ms.toFixed(0)} ms max ${r.lag.maxMs.toFixed(0)} ms`
                : ''),
          );
          results.get(sink.name)!.push(r);
        } catch (err) {
          report.fail(`${sink.name} run ${i + 1}`, err);
          if (sink instanceof TelegrafSink) console.log(sink.logTail());
        }
      }
    }
  } finally {
    await topics.remove();
  }
  return results;
}

export function addSinkMeasurements(report: Report, name: string, r: SinkRunResult[], messages: number): void {
  const extra = {
    seconds: r.map((x) => x.seconds),
    rows: r.map((x) => x.rows),
    cpuSeconds: r.map((x) => x.cpuSeconds),
    databaseCpuSeconds: r.map((x) => x.dbCpuSeconds),
    peakRssMb: r.map((x) => x.peakRssMb),
    messages,
  };
  report.add({
    key: `sink.${name}`,
    label: `${name}: topic → hypertable, drain`,
    unit: 'rows/s',
    runs: r.map((x) => x.rowsPerSec),
    extra,
    ceilingKey: 'db.insert.devstack.hypertable',
  });
  report.add({
    key: `sink.${name}.inserts`,
    label: `${name}: first → last insert`,
    unit: 'rows/s',
    runs: r.map((x) => x.insertRowsPerSec),
    ceilingKey: 'db.insert.devstack.hypertable',
  });
  const perRow = (cpu: (x: SinkRunResult) => number | undefined) =>
    r.filter((x) => cpu(x) !== undefined).map((x) => (cpu(x)! / x.rows) * 1e6);
  const sinkCpu = perRow((x) => x.cpuSeconds);
  if (sinkCpu.length)
    report.add({ key: `sink.${name}.cpu`, label: `${name}: sink process CPU per row`, unit: 'µs', runs: sinkCpu });
  const dbCpu = perRow((x) => x.dbCpuSeconds);
  if (dbCpu.length)
    report.add({ key: `sink.${name}.dbCpu`, label: `${name}: database process CPU per row`, unit: 'µs', runs: dbCpu });
  const lag = r.filter((x) => x.lag);
  if (lag.length) {
    report.add({
      key: `sink.${name}.lag.p50`,
      label: `${name}: live lag p50`,
      unit: 'ms',
      runs: lag.map((x) => x.lag!.p50Ms),
    });
    report.add({
      key: `sink.${name}.lag.p99`,
      label: `${name}: live lag p99`,
      unit: 'ms',
      runs: lag.map((x) => x.lag!.p99Ms),
    });
    report.add({
      key: `sink.${name}.lag.max`,
      label: `${name}: live lag max`,
      unit: 'ms',
      runs: lag.map((x) => x.lag!.maxMs),
    });
  }
}
