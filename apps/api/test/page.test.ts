/**
 * The page at `/` in a real headless Chromium (Debian's `chromium`, driven by playwright-core),
 * against the api on a real TimescaleDB: the chart, rank and flag of an influencer, the search
 * box, the leaderboard and the suspicious list.
 *
 * SCREENSHOT_PATH=docs/page.png yarn jest apps/api/test/page.test.ts   # also saves the README's screenshot
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { profileOf } from '@mockstagram/mock-api';
import { idRange, writeHistory } from '@mockstagram/testkit';
import { detectSuspicious } from '../src/sql/detectSuspicious';
import { refreshRankings } from '../src/sql/refreshRankings';
import { startApiEnv, type ApiEnv } from './support';

const CHROMIUM = '/usr/bin/chromium';
const HOUR = 3_600_000;
const COUNTS = { suspiciousShare: 0.1 };
const IDS = idRange(1_000_000, 60);

let env: ApiEnv;
let context: BrowserContext;
let page: Page;
let userDataDir: string;
const suspicious = IDS.filter((id) => profileOf(id, COUNTS).suspicious);
const honest = IDS.filter((id) => !profileOf(id, COUNTS).suspicious);

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (the CI script .ci/run installs it)`);
  env = await startApiEnv('page');
  const end = Math.floor(Date.now() / HOUR) * HOUR;
  await writeHistory(env.pool, {
    ids: IDS,
    from: end - 26 * HOUR,
    to: end + 10 * 60_000,
    stepMs: 10 * 60_000,
    counts: COUNTS,
  });
  await detectSuspicious(env.pool, {});
  await refreshRankings(env.pool);
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'api-page-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 1000 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = context.pages()[0] ?? (await context.newPage());
}, 180_000);

afterAll(async () => {
  await context?.close();
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  await env?.close();
});

async function open(hash: string): Promise<void> {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${env.base}/${hash}`);
  await page.waitForSelector('body[data-ready="true"]');
  expect(errors).toEqual([]);
}

it('shows an influencer: chart with followers, following and ratio, rank, not flagged', async () => {
  const id = honest[0];
  await open(`#id=${id}&range=24h`);
  const rank = (
    await env.pool.query<{ rank: number }>('SELECT rank FROM follower_rankings WHERE influencer_id = $1', [id])
  ).rows[0].rank;
  await expect(page.textContent('#influencer h2')).resolves.toContain(`#${id}`);
  await expect(page.textContent('#flag')).resolves.toBe('not flagged');
  await expect(page.textContent('#influencer')).resolves.toContain(`#${rank}`);
  expect(await page.locator('#chart canvas').count()).toBe(1);
  const legend = await page.locator('#chart .u-legend .u-label').allTextContents();
  expect(legend).toEqual(expect.arrayContaining(['followers', 'following', 'ratio']));
  if (process.env.SCREENSHOT_PATH) await page.screenshot({ path: process.env.SCREENSHOT_PATH, fullPage: true });
});

it('the leaderboard is the rank order without the suspicious; the suspicious list holds the flagged', async () => {
  await open('');
  const leaderIds = (
    await page
      .locator('#leaderboard a')
      .evaluateAll((as) => as.map((a) => new URLSearchParams(a.getAttribute('href')!.slice(1)).get('id')))
  ).map(Number);
  const top = (
    await env.pool.query<{ id: number }>('SELECT influencer_id AS id FROM follower_rankings ORDER BY rank LIMIT 15')
  ).rows.map((r) => r.id);
  expect(leaderIds).toEqual(top);
  const flaggedIds = (
    await page
      .locator('#suspicious a')
      .evaluateAll((as) => as.map((a) => new URLSearchParams(a.getAttribute('href')!.slice(1)).get('id')))
  ).map(Number);
  expect(new Set(flaggedIds)).toEqual(new Set(suspicious.slice(0, 15)));
  expect(leaderIds.filter((id) => suspicious.includes(id))).toEqual([]);
});

it('search box and list links load another influencer; a flagged one shows its flag and no rank', async () => {
  await open('');
  await page.fill('#search-id', String(honest[1]));
  await page.click('#search button');
  await page.locator('#influencer h2', { hasText: `#${honest[1]}` }).waitFor();
  await page.click('#suspicious a >> nth=0');
  await page.locator('#flag', { hasText: /^suspicious/ }).waitFor();
  await expect(page.textContent('#influencer')).resolves.toMatch(/rank\s*–|–\s*rank/);
});

it('an unknown id says so', async () => {
  await open('#id=1999999');
  await expect(page.textContent('#influencer .error')).resolves.toMatch(/no influencer 1999999/);
});
