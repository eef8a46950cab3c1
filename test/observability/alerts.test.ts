/**
 * volumes/prometheus/alerts.yml: every alert is checked by Prometheus' own `promtool` (built from
 * source by the devstack, the version compose runs) and tested with `promtool test rules` on
 * fixtures (alerts.test.yml) that make it fire and that must leave it quiet; it names only metrics
 * the services export; the README says what to do when it fires.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parser } from '@prometheus-io/lezer-promql';
import { parse as parseYaml } from 'yaml';
import { promtool } from '@mockstagram/devstack';

const ROOT = path.resolve(__dirname, '..', '..');
const RULES = path.join(ROOT, 'volumes/prometheus/alerts.yml');
const FIXTURES = path.join(ROOT, 'volumes/prometheus/alerts.test.yml');
const run = promisify(execFile);

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface AlertTest {
  name: string;
  alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }>;
}

const rules = (parseYaml(fs.readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap(
  (g) => g.rules,
);
const fixtures = (parseYaml(fs.readFileSync(FIXTURES, 'utf8')) as { tests: AlertTest[] }).tests;

/** The alerts the issue asks for, each with what it must watch. */
const REQUIRED: Record<string, string[]> = {
  ConsumerLagGrowing: ['kafka_consumer_lag'],
  DeadLettersHigh: ['fetcher_dlq_messages_total', 'result_handler_dlq_messages_total'],
  SchedulerLagOverInterval: ['scheduler_lag_seconds'],
  DatabaseWriteFailures: ['result_handler_db_retries_total'],
  TargetDown: ['up'],
  NoSamplesStored: ['result_handler_rows_written_total'],
};

/** Metric names in a PromQL expression. */
function metricsIn(expr: string): string[] {
  const names: string[] = [];
  parser.parse(expr).iterate({
    enter(ref) {
      if (ref.type.isError) throw new Error(`syntax error in ${expr} at ${ref.from}`);
      if (ref.name !== 'VectorSelector') return;
      const id = ref.node.getChild('Identifier');
      if (id) names.push(expr.slice(id.from, id.to));
    },
  });
  return names;
}

/** Every metric name an app registers (`name: '...'` in apps/<app>/src/metrics.ts). */
function exportedMetrics(): Set<string> {
  const names = new Set<string>();
  for (const app of fs.readdirSync(path.join(ROOT, 'apps'))) {
    const file = path.join(ROOT, 'apps', app, 'src', 'metrics.ts');
    if (!fs.existsSync(file)) continue;
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/name: '([a-z_:][a-z0-9_:]*)'/g)) names.add(m[1]);
  }
  return names;
}

let promtoolBin: string;
beforeAll(async () => {
  promtoolBin = await promtool((message) => console.log(`[devstack] ${message}`));
}, 30 * 60_000);

test('the issue’s alerts are all there, each on what it must watch, with a severity and a summary', () => {
  for (const [alert, metrics] of Object.entries(REQUIRED)) {
    const rule = rules.find((r) => r.alert === alert);
    expect({ alert, found: rule !== undefined }).toEqual({ alert, found: true });
    expect({ alert, metrics: metrics.filter((m) => metricsIn(rule!.expr).includes(m)) }).toEqual({ alert, metrics });
    expect({ alert, severity: rule!.labels?.severity }).toEqual({
      alert,
      severity: expect.stringMatching(/^(warning|critical)$/),
    });
    expect({ alert, summary: typeof rule!.annotations?.summary }).toEqual({ alert, summary: 'string' });
  }
});

test('every metric an alert names is exported by a service (or is Prometheus’ own up)', () => {
  const exported = exportedMetrics();
  exported.add('up');
  const unknown = rules.flatMap((r) =>
    metricsIn(r.expr)
      .filter((m) => !exported.has(m))
      .map((m) => `${r.alert}: ${m}`),
  );
  expect(unknown).toEqual([]);
});

test('promtool check rules accepts the file', async () => {
  const { stdout } = await run(promtoolBin, ['check', 'rules', RULES]);
  expect(stdout).toMatch(new RegExp(`SUCCESS: ${rules.length} rules found`));
});

test('every alert has a fixture where it fires and one where it stays quiet', () => {
  for (const rule of rules) {
    const evals = fixtures.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => a.alertname === rule.alert));
    expect({
      alert: rule.alert,
      fires: evals.some((e) => e.exp_alerts.length > 0),
      quiet: evals.some((e) => e.exp_alerts.length === 0),
    }).toEqual({
      alert: rule.alert,
      fires: true,
      quiet: true,
    });
  }
});

test('promtool test rules: every fixture passes', async () => {
  const result = await run(promtoolBin, ['test', 'rules', FIXTURES]).catch(
    (err: { stdout: string; stderr: string }) => err,
  );
  expect(`${result.stdout}${result.stderr}`).toMatch(/SUCCESS/);
  expect(`${result.stdout}${result.stderr}`).not.toMatch(/FAILED/);
});

test('compose’s Prometheus loads the rules, and the container has the file', () => {
  const config = parseYaml(fs.readFileSync(path.join(ROOT, 'volumes/prometheus/prometheus.yml'), 'utf8')) as {
    rule_files?: string[];
  };
  expect(config.rule_files).toEqual(['alerts.yml']);
  const compose = parseYaml(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, { volumes?: string[] }>;
  };
  expect(compose.services.prometheus.volumes).toContain(
    './volumes/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro',
  );
});

test('the README says what to do when each alert fires', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = /^### Alerts\s*$([\s\S]*?)(?=^##)/m.exec(readme)?.[1] ?? '';
  for (const rule of rules) {
    const entry = new RegExp(`\\*\\*${rule.alert}\\*\\*([^\\n]*\\n(?!- ))*`).exec(section)?.[0] ?? '';
    expect({ alert: rule.alert, documented: entry.length > rule.alert.length + 60 }).toEqual({
      alert: rule.alert,
      documented: true,
    });
  }
});
