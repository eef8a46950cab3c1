/**
 * `yarn test:faults`: the whole pipeline as processes (mock API, scheduler, two fetchers, a
 * result-handler) on its own three-node Kafka and native TimescaleDB, at a steady rate, with one
 * fault at a time. After each fault: every slot scheduled in its window has exactly one row,
 * nothing was lost, nothing but the poison was dead-lettered (each poison message with its
 * reason), and how long the pipeline took to catch up. Prints the table, writes it to
 * docs/reliability.md with the command, exits 1 on any loss, duplicate or unexpected dead letter.
 *
 * Usage: yarn test:faults [--influencers 20000] [--interval 10] [--steady 15]
 *                         [--faults none,scheduler,fetcher,result-handler,broker,db-restart,db-outage,api,poison]
 *                         [--fresh 5] [--out docs/reliability.md | --out -]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKafka, createLogger } from '@mockstagram/shared';
import { buildApps } from '../../scripts/build';
import { audit, missing, type Verdict, type Window } from './audit';
import { FaultEngines } from './engines';
import { FAULTS, type Fault, type FaultContext } from './faults';
import { Observer } from './observer';
import { MEMBERS, Pipeline, type Member } from './pipeline';
import { formatTable, writeReport } from './report';
import { inspect } from 'node:util';

const { values } = parseArgs({
  options: {
    influencers: { type: 'string', default: '20000' },
    interval: { type: 'string', default: '10' },
    steady: { type: 'string', default: '15' },
    fresh: { type: 'string', default: '5' },
    faults: { type: 'string', default: FAULTS.map((f) => f.name).join(',') },
    out: { type: 'string', default: 'docs/reliability.md' },
  },
});

const log = (m: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${m}\n`);

function positive(name: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    process.stderr.write(`--${name} must be a positive integer, got ${JSON.stringify(v)}\n`);
    process.exit(2);
  }
  return n;
}

const influencers = positive('influencers', values.influencers);
const intervalSeconds = positive('interval', values.interval);
const steadySeconds = positive('steady', values.steady);
const freshSeconds = positive('fresh', values.fresh);
const selected: Fault[] = (values.faults ?? '').split(',').map((name) => {
  const f = FAULTS.find((x) => x.name === name.trim());
  if (!f) {
    process.stderr.write(
      `--faults: unknown fault ${JSON.stringify(name)}; known: ${FAULTS.map((x) => x.name).join(', ')}\n`,
    );
    process.exit(2);
  }
  return f;
});

/**
 * Wait until the pipeline has caught up: every process that should run runs, every slot scheduled
 * since `sinceMs` whose time is more than `freshSeconds` ago is stored, and the scheduler has no
 * influencer overdue by more than that (twice in a row, a second apart), checked from
 * `fromMs + freshSeconds` on. Returns the seconds since `fromMs` (at least freshSeconds), or
 * undefined after `timeoutMs`.
 */
async function recovered(
  ctx: FaultContext,
  expected: readonly Member[],
  sinceMs: number,
  fromMs: number,
  timeoutMs: number,
): Promise<number | undefined> {
  let good = 0;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const sampleAt = Date.now();
    // Slots older than freshSeconds must include some scheduled after the fault ended.
    if (sampleAt - freshSeconds * 1000 < fromMs) {
      await sleep(fromMs + freshSeconds * 1000 - sampleAt);
      continue;
    }
    const up = expected.every((m) => ctx.pipeline.running(m));
    const behind = up
      ? await missing(ctx.pipeline.pool, ctx.observer, { fromMs: sinceMs, toMs: sampleAt - freshSeconds * 1000 }).catch(
          () => undefined,
        )
      : undefined;
    const overdue = up
      ? await ctx.pipeline.pool
          .query<{ n: number }>(
            `SELECT count(*)::int AS n FROM influencers WHERE active AND next_fetch_at < now() - make_interval(secs => $1)`,
            [freshSeconds],
          )
          .then((r) => r.rows[0].n)
          .catch(() => undefined)
      : undefined;
    if (behind === 0 && overdue === 0) {
      good += 1;
      if (good === 2) return (sampleAt - fromMs) / 1000;
    } else good = 0;
    await sleep(1000);
  }
  return undefined;
}

async function main(): Promise<number> {
  const command = `yarn test:faults ${process.argv.slice(2).join(' ')}`.trim();
  log(
    `${command}: ${influencers} influencers every ${intervalSeconds} s (${influencers / intervalSeconds} jobs/s); faults: ${selected.map((f) => f.name).join(', ')}`,
  );
  await buildApps();
  const engines = await FaultEngines.start(log);
  // Ctrl-C: the engines run detached from this process; stop them and remove their files.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping the suite's engines`);
      void engines.close().finally(() => process.exit(130));
    });
  }
  let pipeline: Pipeline | undefined;
  let observer: Observer | undefined;
  const verdicts: Verdict[] = [];
  try {
    pipeline = await Pipeline.create({
      kafkaBrokers: engines.kafkaBrokers,
      databaseUrl: engines.databaseUrl,
      influencers,
      intervalSeconds,
    });
    observer = new Observer(engines.kafkaBrokers, pipeline.topics);
    await observer.start();
    await pipeline.start();
    const kafka = createKafka({
      brokers: engines.kafkaBrokers.split(','),
      clientId: 'fault-suite-poison',
      logger: createLogger('fault-suite', 'silent'),
    });
    const ctx: FaultContext = { pipeline, engines, observer, kafka, log, poison: new Map() };
    const rate = pipeline.jobsPerSecond;

    // Warm-up: one interval for every influencer's first slot, then until the pipeline keeps up.
    log(`pipeline running; warming up for one interval`);
    await sleep(intervalSeconds * 1000);
    const warm = await recovered(ctx, MEMBERS, Date.now() - intervalSeconds * 1000, Date.now(), 120_000);
    if (warm === undefined)
      throw new Error(
        `the pipeline does not keep up with ${rate} jobs/s on this machine even without a fault: use fewer --influencers or a longer --interval`,
      );

    let windowStart = Date.now();
    for (const fault of selected) {
      log(`fault ${fault.name}: ${fault.title}`);
      const deadLettersBefore = observer.deadLetters.length;
      const exitsBefore = pipeline.exits.length;
      const poisonBefore = new Set(ctx.poison.keys());
      await sleep(steadySeconds * 1000);
      await fault.inject(ctx);
      const healedAt = Date.now();
      const expected = MEMBERS.filter((m) => pipeline!.running(m));
      const recoverSeconds = await recovered(ctx, expected, windowStart, healedAt, 300_000);
      log(
        recoverSeconds === undefined
          ? '  not caught up after 300 s'
          : `  caught up ${recoverSeconds.toFixed(1)} s after the fault ended`,
      );
      // One more interval, so that every influencer has a slot after the fault in the window.
      await sleep(intervalSeconds * 1000);
      const window: Window = { fromMs: windowStart, toMs: Date.now() - 2000 };
      await observer.catchUp();
      const drainDeadline = Date.now() + 120_000;
      while ((await missing(pipeline.pool, observer, window).catch(() => 1)) > 0 && Date.now() < drainDeadline)
        await sleep(1000);
      await observer.catchUp();
      const exits = pipeline.exits.slice(exitsBefore);
      for (const e of exits)
        log(
          `  ${e.member} exited on its own (${e.signal ?? `exit code ${e.code}`}); started again. Its last output:\n${e.output}`,
        );
      const poisonProduced = [...ctx.poison.keys()].filter((k) => !poisonBefore.has(k));
      const v = await audit(
        fault.title,
        pipeline.pool,
        observer,
        window,
        observer.deadLetters.slice(deadLettersBefore),
        ctx.poison,
        poisonProduced,
        recoverSeconds,
        exits.map((e) => `${e.member} (${e.signal ?? `exit ${e.code}`})`),
      );
      verdicts.push(v);
      log(
        `  ${v.ok ? 'ok' : 'FAILED'}: ${v.scheduled} slots scheduled, ${v.stored} stored, ${v.lost} lost, ${v.duplicated} duplicated, ` +
          `${v.emittedTwice} emitted twice, ${v.poisonDeadLettered} poison dead-lettered (${v.poisonMissing} missing), ${v.otherDeadLettered.length} other dead letters`,
      );
      if (v.examples.length > 0) log(`  for example: ${v.examples.join('; ')}`);
      windowStart = window.toMs;
      if (fault.restore) await fault.restore(ctx);
    }
    const codes = await pipeline.stop();
    log(
      `services stopped (exit codes: ${Object.entries(codes)
        .map(([k, c]) => `${k} ${c}`)
        .join(', ')})`,
    );
    if (!verdicts.every((v) => v.ok)) {
      for (const [m, p] of pipeline.processes)
        log(`--- ${m} (last lines)\n${p.logs.split('\n').slice(-15).join('\n')}`);
    }
  } finally {
    await observer?.stop();
    await pipeline?.stop().catch(() => undefined);
    await pipeline?.close();
    await engines.close();
  }

  const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? 'unknown'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  process.stdout.write(`\n${formatTable(verdicts)}\n`);
  if (values.out && values.out !== '-') {
    const out = path.resolve(process.cwd(), values.out);
    const previous = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
    fs.writeFileSync(
      out,
      writeReport(
        { command, verdicts, influencers, intervalSeconds, freshSeconds, machine, date: new Date() },
        previous,
      ),
    );
    log(`wrote ${path.relative(process.cwd(), out)}`);
  }
  const failed = verdicts.filter((v) => !v.ok);
  if (failed.length > 0)
    log(
      `${failed.length} of ${verdicts.length} faults lost, duplicated or dead-lettered something, or did not recover: ${failed.map((v) => v.fault).join('; ')}`,
    );
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    // inspect, not .stack: a Kafka client's AggregateError carries its causes in .errors
    process.stderr.write(`fault suite failed: ${inspect(err, { depth: 6 })}\n`);
    process.exit(1);
  },
);
