/**
 * The benchmark suite, the repository's only benchmark entry point:
 * `yarn bench <ceilings|parts|peers|clients|e2e|queries|detect|scheduler|all> [flags]`. See docs/performance.md.
 *
 * Engines: the running devstack (or KAFKA_BROKERS / DATABASE_URL). Every run uses its own topics,
 * schemas and consumer groups and removes them afterwards. Results: a table on stdout and
 * bench/results/<name>-<timestamp>.json (git-ignored).
 */
import { parseArgs } from 'node:util';
import { devstackSettings } from '@mockstagram/devstack';
import { buildApps } from '../scripts/build';
import { ceilings } from './ceilings';
import { parts } from './parts';
import { peers } from './peers';
import { e2e } from './e2e';
import { queries } from './queries';
import { detect } from './detect';
import { clients } from './clients';
import { schedulerBench } from './scheduler';
import { javaVersion, latestMedians, Report } from './lib/report';
import { stopChildrenOnSignal } from './lib/children';

const USAGE = `usage: yarn bench <ceilings|parts|peers|clients|e2e|queries|detect|scheduler|all> [flags]

common:   --runs N (3)
ceilings: --only api,db,native,kafka   --wrk-seconds 10  --wrk-connections 64
          --db-rows 200000  --batch 10000  --kafka-records 2000000  --record-size 200
          (db: the result-handler's write statement and COPY, per batch of --batch rows)
parts:    --only fetcher,client,producer,consumer,sink  --jobs 100000 (fetcher jobs, client lookups)
          --kafka-messages 500000  --messages 2000000 (results topic for the sink)  --influencers 1000000
          (fetcher and client take FETCHER_* from the environment, the sink RESULT_HANDLER_* and
          DATABASE_POOL_SIZE, as the services do; \`all\` runs fetcher,producer,consumer)
peers:    --messages 2000000  --influencers 1000000  --sinks ours,telegraf
          --live-seconds 15  --live-rate 5000  (lag phase after the drain; 0 seconds to skip)
clients:  --kafka-messages 500000  --record-size 200  (Kafka's tools, kafkajs, @platformatic/kafka, interleaved)
e2e:      --influencers 100000 (e2e's default)  --interval 60  --minutes 5  (one run, after a warm-up of one interval)
queries:  --influencers 1000000  --minute-influencers 10000  --month-influencers 1000  --write-rate 5000
          --seconds 15 (autocannon per question)  --connections 4  --keep (leave the schema)
          --hourly-influencers N (only the first N get the 25 h hourly history; default all)
          --reuse SCHEMA (a kept schema: the HTTP phase only)  --only 'latest,stats,...' (question names' starts)
          --profile (api under --cpu-prof, into bench/results/profiles)  --no-writer (the api alone)
          --api-dist dist-before,dist (builds under apps/api, each question asked of each in turn)
detect:   --influencers 2000 (a day at 1 minute, through storeResults)
scheduler: --influencers 100000 (register, (de)activate, lag and stats queries, one uncapped tick)`;

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string', default: '3' },
    only: { type: 'string', default: '' },
    'wrk-seconds': { type: 'string', default: '10' },
    'wrk-connections': { type: 'string', default: '64' },
    'db-rows': { type: 'string', default: '200000' },
    batch: { type: 'string', default: '10000' },
    'kafka-records': { type: 'string', default: '2000000' },
    'record-size': { type: 'string', default: '200' },
    jobs: { type: 'string', default: '100000' },
    'kafka-messages': { type: 'string', default: '500000' },
    messages: { type: 'string', default: '2000000' },
    influencers: { type: 'string' },
    interval: { type: 'string', default: '60' },
    minutes: { type: 'string', default: '5' },
    sinks: { type: 'string', default: 'ours,telegraf' },
    'live-seconds': { type: 'string', default: '15' },
    'live-rate': { type: 'string', default: '5000' },
    'minute-influencers': { type: 'string', default: '10000' },
    'hourly-influencers': { type: 'string' },
    'month-influencers': { type: 'string', default: '1000' },
    'write-rate': { type: 'string', default: '5000' },
    seconds: { type: 'string', default: '15' },
    connections: { type: 'string', default: '4' },
    keep: { type: 'boolean', default: false },
    reuse: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'no-writer': { type: 'boolean', default: false },
    'api-dist': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

const num = (name: keyof typeof flags, fallback?: string): number => {
  const n = Number(flags[name] ?? fallback);
  if (!Number.isFinite(n) || n < 0)
    throw new Error(`--${name} must be a non-negative number, got ${String(flags[name])}`);
  return n;
};
const list = (s: string | boolean | undefined) =>
  new Set(
    String(s ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  );

async function main(): Promise<void> {
  const name = positionals[0];
  if (
    flags.help ||
    !name ||
    !['ceilings', 'parts', 'peers', 'clients', 'e2e', 'queries', 'detect', 'scheduler', 'all'].includes(name)
  ) {
    console.log(USAGE);
    process.exit(flags.help ? 0 : 2);
  }
  // The engines: KAFKA_BROKERS / DATABASE_URL, else the devstack's on its DEVSTACK_* ports, as the
  // tests' global setup resolves them.
  const engines = devstackSettings();
  process.env.KAFKA_BROKERS ??= engines.kafkaBrokers;
  process.env.DATABASE_URL ??= engines.databaseUrl;
  stopChildrenOnSignal();
  // The services (and the mock API of the ceilings and parts) run as they ship: built, by their
  // start scripts. One build for the whole invocation.
  await buildApps();
  const invocation = `yarn bench ${process.argv.slice(2).join(' ')}`;
  const runs = Math.max(1, num('runs'));
  const ceilingKeys = new Map<string, number>();

  const newReport = (n: string, settings: Record<string, unknown>) => {
    const r = new Report(n, invocation, settings);
    r.versions.java = javaVersion();
    return r;
  };

  if (name === 'ceilings' || name === 'all') {
    const o = {
      runs,
      only: name === 'all' ? new Set<string>() : list(flags.only),
      wrkSeconds: num('wrk-seconds'),
      wrkConnections: num('wrk-connections'),
      dbRows: num('db-rows'),
      batch: num('batch'),
      kafkaRecords: num('kafka-records'),
      recordSize: num('record-size'),
    };
    const report = newReport('ceilings', { ...o, only: [...o.only] });
    console.log(`== ceilings ==`);
    await ceilings(o, report);
    report.finish();
    for (const m of report.measurements) ceilingKeys.set(m.key, m.median);
  }

  if (name === 'scheduler') {
    // Not part of `all`: the scheduler's own statements and one tick, no ceiling to relate to.
    const o = { runs, influencers: num('influencers', '100000') };
    const report = newReport('scheduler', { ...o });
    console.log(`== scheduler: ${o.influencers} influencers ==`);
    await schedulerBench(o, report);
    report.finish();
    return;
  }

  if (name === 'detect') {
    await detect({ influencers: num('influencers', '2000') });
    return;
  }

  if (name === 'queries') {
    // Not part of `all`: it loads ~40 million samples into a schema of its own first.
    await queries({
      influencers: num('influencers', '1000000'),
      ...(flags['hourly-influencers'] ? { hourlyInfluencers: num('hourly-influencers') } : {}),
      minuteInfluencers: num('minute-influencers'),
      monthInfluencers: num('month-influencers'),
      writeRate: num('write-rate'),
      seconds: num('seconds'),
      connections: num('connections'),
      keep: Boolean(flags.keep),
      ...(flags.reuse ? { reuse: flags.reuse } : {}),
      ...(flags.only
        ? {
            only: flags.only
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean),
          }
        : {}),
      profile: Boolean(flags.profile),
      noWriter: Boolean(flags['no-writer']),
      ...(flags['api-dist']
        ? {
            apiDists: flags['api-dist']
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean),
          }
        : {}),
    });
    return;
  }

  if (name === 'e2e') {
    // Not part of `all`: it runs for minutes at a fixed rate and is stepped by hand (docs/performance.md).
    const o = { influencers: num('influencers', '100000'), intervalSeconds: num('interval'), minutes: num('minutes') };
    const report = newReport('e2e', { ...o });
    console.log(
      `== e2e: ${o.influencers} influencers every ${o.intervalSeconds} s, ${o.minutes} min after a ${o.intervalSeconds} s warm-up ==`,
    );
    await e2e(o, report);
    report.finish();
    return;
  }

  if (name === 'clients') {
    // Not part of `all`: the client comparison behind the choice of Kafka client (docs/performance.md).
    const o = { runs, kafkaMessages: num('kafka-messages'), recordSize: num('record-size') };
    const report = newReport('clients', { ...o });
    console.log(`== clients ==`);
    await clients(o, report);
    report.finish();
    return;
  }

  if (name !== 'ceilings') {
    // Ceilings this run did not measure (or failed to) come from the newest results that have them.
    const last = latestMedians('ceilings');
    for (const [k, v] of last.values) if (!ceilingKeys.has(k)) ceilingKeys.set(k, v);
    if (last.files.length) {
      console.log(`fractions use the ceilings of ${last.files.join(', ')}; run \`yarn bench ceilings\` for fresh ones`);
    } else {
      console.log('no ceilings measured yet (`yarn bench ceilings`): fractions are left out');
    }
  }

  if (name === 'parts' || name === 'all') {
    const o = {
      runs,
      // In `all`, the result-handler's drain is measured once, beside the peers, on the same topic.
      only: name === 'all' ? new Set(['fetcher', 'producer', 'consumer']) : list(flags.only),
      jobs: num('jobs'),
      kafkaMessages: num('kafka-messages'),
      recordSize: num('record-size'),
      messages: num('messages'),
      influencers: num('influencers', '1000000'),
    };
    const report = newReport('parts', { ...o, only: [...o.only] });
    console.log(`== parts ==`);
    await parts(o, report);
    report.relateTo(ceilingKeys);
    report.finish();
  }

  if (name === 'peers' || name === 'all') {
    const o = {
      runs,
      messages: num('messages'),
      influencers: num('influencers', '1000000'),
      sinks: list(flags.sinks),
      liveSeconds: num('live-seconds'),
      liveRate: num('live-rate'),
    };
    const report = newReport('peers', { ...o, sinks: [...o.sinks] });
    console.log(`== peers ==`);
    await peers(o, report);
    report.relateTo(ceilingKeys);
    report.finish();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
