/**
 * The read-side panels of "Follower growth" (rank of the selected influencers, the average, the
 * suspicious list), their SQL expanded as Grafana would (./grafana-sql.ts) and run on a real
 * TimescaleDB holding a day of the mock API's counts written through the pipeline's storage path
 * after detection and a rank refresh: they answer what the api answers.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { migrate } from '@mockstagram/shared/migrate';
import { profileOf } from '@mockstagram/mock-api';
import { freshSchema, type TestSchema, idRange, writeHistory } from '@mockstagram/testkit';
import { expandSql } from './grafana-sql';

const HOUR = 3_600_000;
const COUNTS = { suspiciousShare: 0.1 };
const IDS = idRange(1_000_000, 80);

interface Panel {
  title: string;
  targets: { rawSql: string }[];
}
const dashboard = JSON.parse(
  readFileSync(path.resolve(__dirname, '..', '..', 'volumes', 'grafana', 'dashboards', 'follower-growth.json'), 'utf8'),
) as { panels: Panel[] };
const sqlOf = (title: string): string => {
  const panel = dashboard.panels.find((p) => p.title === title);
  if (!panel) throw new Error(`no panel "${title}"`);
  return panel.targets[0].rawSql;
};

let db: TestSchema;
const now = Date.now();

async function run(title: string, selected: number[] = []): Promise<Record<string, unknown>[]> {
  const sql = expandSql(sqlOf(title), {
    from: new Date(now - 6 * HOUR),
    to: new Date(now),
    intervalMs: 60_000,
    variables: { influencer: { value: selected.map(String), multi: true } },
  });
  return (await db.pool.query(sql)).rows;
}

beforeAll(async () => {
  db = await freshSchema('grafana_read');
  await migrate({ pool: db.pool });
}, 120_000);

afterAll(async () => {
  await db?.drop();
});

it('before any data: the average panel still answers one row (empty, or zeros once the refresh job ran), the lists none', async () => {
  const rows = await run('Average followers (not suspicious)');
  expect(rows).toHaveLength(1);
  expect(rows[0]['Average followers']).toBeNull();
  expect([null, '0']).toContain(rows[0].Ranked);
  expect(await run('Suspicious influencers')).toEqual([]);
});

describe('with a day of history, detection and a rank refresh', () => {
  let suspicious: number[];

  beforeAll(async () => {
    const end = Math.floor(now / HOUR) * HOUR;
    await writeHistory(db.pool, { ids: IDS, from: end - 26 * HOUR, to: end, stepMs: 10 * 60_000, counts: COUNTS });
    await db.pool.query('SELECT detect_suspicious()');
    await db.pool.query('SELECT refresh_rankings()');
    suspicious = IDS.filter((id) => profileOf(id, COUNTS).suspicious);
  }, 120_000);

  it('Average followers: the mean over the influencers not suspicious, and the counts', async () => {
    const { rows } = await db.pool.query<{ avg: number }>(
      `SELECT avg(follower_count)::float8 AS avg FROM influencer_latest WHERE NOT (influencer_id = ANY($1::bigint[]))`,
      [suspicious],
    );
    const [row] = await run('Average followers (not suspicious)');
    expect(Number(row['Average followers'])).toBeCloseTo(rows[0].avg, 6);
    expect([Number(row.Ranked), Number(row.Suspicious)]).toEqual([IDS.length - suspicious.length, suspicious.length]);
  });

  it('Rank of the selected influencers: rank by followers without the suspicious, ties to the smaller id; flagged ones unranked', async () => {
    const { rows: latest } = await db.pool.query<{ id: number }>(
      'SELECT influencer_id::int AS id FROM influencer_latest ORDER BY follower_count DESC, influencer_id',
    );
    const ranked = latest.filter((r) => !suspicious.includes(r.id));
    const selected = [ranked[0].id, ranked[5].id, suspicious[0]];
    const rows = await run('Rank of the selected influencers', selected);
    expect(rows.map((r) => [Number(r.ID), r.Rank === null ? null : Number(r.Rank), r.Suspicious])).toEqual([
      [ranked[0].id, 1, 'no'],
      [ranked[5].id, 6, 'no'],
      [suspicious[0], null, expect.stringMatching(/^yes \((spike|erratic)\)$/)],
    ]);
    expect(rows[0]['Ranked at']).toBeInstanceOf(Date);
  });

  it('Suspicious influencers: the flagged, most suspicious first, with the reason', async () => {
    const rows = await run('Suspicious influencers');
    expect(rows.map((r) => Number(r.ID)).sort()).toEqual([...suspicious].sort());
    const scores = rows.map((r) => Number(r.Score));
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    for (const r of rows) expect(r.Reason).toMatch(/^(spike|erratic)$/);
  });
});
