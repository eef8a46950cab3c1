/**
 * `yarn bench peers`: the same pre-filled results topic drained into the same hypertable by our
 * result-handler and by established Kafka → PostgreSQL sinks (Telegraf), runs interleaved.
 * See bench/lib/sink.ts for what is timed.
 */
import { addSinkMeasurements, measureSinks, type DrainOptions } from './lib/drain';
import type { Report } from './lib/report';
import { ensureTelegraf, OurSink, TelegrafSink, type Sink } from './lib/sink';

export interface PeerOptions extends DrainOptions {
  sinks: Set<string>;
}

export async function peers(o: PeerOptions, report: Report): Promise<void> {
  const sinks: Sink[] = [];
  if (o.sinks.has('ours')) sinks.push(new OurSink());
  if (o.sinks.has('telegraf')) {
    try {
      sinks.push(new TelegrafSink(await ensureTelegraf()));
    } catch (err) {
      report.fail('telegraf (build)', err);
    }
  }
  const unknown = [...o.sinks].filter((s) => s !== 'ours' && s !== 'telegraf');
  if (unknown.length) report.note(`unknown sinks ignored: ${unknown.join(', ')} (known: ours, telegraf)`);
  if (sinks.length === 0) return;
  report.note(
    'Redpanda Connect: not measured (its Go module is not available from the module proxy these machines use).',
  );
  report.note(
    'Kafka Connect + Debezium JDBC sink: not measured. io.debezium:debezium-connector-jdbc:3.1.2.Final resolves from Maven (2.7.3.Final does not) and connect-runtime 3.9.1 is on the devstack classpath, ' +
      'but the sink only takes records with a schema (Struct values: Avro/Protobuf, or JsonConverter with schemas.enable=true and a schema envelope in every message); our topic carries plain JSON, so it would need a re-encoded copy of the topic.',
  );

  const results = await measureSinks(sinks, o, report);
  for (const sink of sinks) {
    const r = results.get(sink.name)!;
    if (r.length === 0) continue;
    addSinkMeasurements(report, sink.name, r, o.messages);
  }
}
