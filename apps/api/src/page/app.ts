/**
 * The page at `/`: stats, one influencer's growth chart (followers, following, ratio) with a
 * search box, their rank and flag, the leaderboard and the suspicious list. Plain DOM plus uPlot;
 * every figure comes from the /api/v1 endpoints. State (the influencer, range, leaderboard kind)
 * lives in the URL hash, so a view can be linked.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './page.css';

type Json = Record<string, any>;

const RANGES: Record<string, number> = {
  '6h': 6 * 3600,
  '24h': 86_400,
  '7d': 7 * 86_400,
  '30d': 30 * 86_400,
  '365d': 365 * 86_400,
};

const state = {
  id: '',
  range: '24h',
  by: 'followers' as 'followers' | 'growth',
  leaderCursor: [] as string[],
  suspiciousCursor: [] as string[],
};

const el = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
};
const fmt = (n: number | null | undefined, digits = 0) =>
  n === null || n === undefined
    ? '–'
    : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
const when = (iso: string | null) => (iso ? new Date(iso).toISOString().replace('T', ' ').slice(0, 19) + ' UTC' : '–');

async function api(path: string): Promise<Json> {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  const body = (await res.json()) as Json;
  if (!res.ok) throw new Error(body.message ?? `HTTP ${res.status}`);
  return body;
}

function layout(): void {
  const app = document.getElementById('app')!;
  app.replaceChildren(
    el('header', {}, el('h1', {}, 'Mockstagram'), el('div', { id: 'stats', class: 'stats' })),
    el(
      'section',
      { class: 'card' },
      el(
        'form',
        { id: 'search' },
        el('input', {
          id: 'search-id',
          name: 'id',
          placeholder: 'influencer id, e.g. 1000042',
          inputmode: 'numeric',
          autocomplete: 'off',
        }),
        el('select', { id: 'range' }, ...Object.keys(RANGES).map((r) => el('option', { value: r }, r))),
        el('button', { type: 'submit' }, 'Show'),
      ),
      el('div', { id: 'influencer' }),
      el('div', { id: 'chart' }),
    ),
    el(
      'div',
      { class: 'columns' },
      el(
        'section',
        { class: 'card' },
        el(
          'h2',
          {},
          'Leaderboard ',
          el(
            'select',
            { id: 'by' },
            el('option', { value: 'followers' }, 'by followers'),
            el('option', { value: 'growth' }, 'by growth (24h)'),
          ),
        ),
        el('table', { id: 'leaderboard' }),
        el(
          'div',
          { class: 'pager' },
          el('button', { id: 'leader-prev' }, '‹ prev'),
          el('button', { id: 'leader-next' }, 'next ›'),
        ),
      ),
      el(
        'section',
        { class: 'card' },
        el('h2', {}, 'Suspicious'),
        el('table', { id: 'suspicious' }),
        el(
          'div',
          { class: 'pager' },
          el('button', { id: 'sus-prev' }, '‹ prev'),
          el('button', { id: 'sus-next' }, 'next ›'),
        ),
      ),
    ),
  );
  const form = document.getElementById('search') as HTMLFormElement;
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const id = (document.getElementById('search-id') as HTMLInputElement).value.trim();
    state.range = (document.getElementById('range') as HTMLSelectElement).value;
    setHash({ id, range: state.range });
  });
  (document.getElementById('by') as HTMLSelectElement).addEventListener('change', (e) => {
    state.by = (e.target as HTMLSelectElement).value as 'followers' | 'growth';
    state.leaderCursor.length = 0;
    (document.getElementById('leader-prev') as HTMLButtonElement).disabled = true;
    void leaderboard();
  });
  pager('leader-prev', 'leader-next', state.leaderCursor, leaderboard);
  pager('sus-prev', 'sus-next', state.suspiciousCursor, suspicious);
}

/** prev / next buttons over a stack of cursors (the top one is the current page's). */
function pager(prevId: string, nextId: string, stack: string[], load: (cursor?: string) => Promise<void>): void {
  const prev = document.getElementById(prevId) as HTMLButtonElement;
  prev.disabled = true;
  prev.addEventListener('click', () => {
    stack.pop();
    prev.disabled = stack.length === 0;
    void load(stack.at(-1));
  });
  document.getElementById(nextId)!.addEventListener('click', (e) => {
    const next = (e.target as HTMLButtonElement).dataset.cursor;
    if (!next) return;
    stack.push(next);
    prev.disabled = false;
    void load(next);
  });
}

function setHash(values: { id: string; range: string }): void {
  location.hash = new URLSearchParams(values).toString();
}

function idLink(id: number, text: string): HTMLAnchorElement {
  const a = el('a', { href: `#${new URLSearchParams({ id: String(id), range: state.range })}` }, text);
  return a;
}

async function stats(): Promise<void> {
  const s = await api('/api/v1/stats');
  document
    .getElementById('stats')!
    .replaceChildren(
      stat('average followers (not suspicious)', fmt(s.averageFollowers)),
      stat('tracked', fmt(s.tracked)),
      stat('suspicious', fmt(s.suspicious)),
      stat('newest sample', when(s.newestSampleAt)),
    );
}

function stat(label: string, value: string): HTMLElement {
  return el('div', { class: 'stat' }, el('span', { class: 'value' }, value), el('span', { class: 'label' }, label));
}

let chart: uPlot | undefined;

async function influencer(): Promise<void> {
  const box = document.getElementById('influencer')!;
  const chartBox = document.getElementById('chart')!;
  if (!state.id) {
    box.replaceChildren(el('p', { class: 'muted' }, 'Search an influencer by id, or pick one from the lists below.'));
    return;
  }
  try {
    const i = await api(`/api/v1/influencers/${encodeURIComponent(state.id)}`);
    const to = new Date();
    const from = new Date(to.getTime() - RANGES[state.range] * 1000);
    const s = await api(
      `/api/v1/influencers/${i.id}/series?${new URLSearchParams({ from: from.toISOString(), to: to.toISOString() })}`,
    );
    box.replaceChildren(
      el(
        'h2',
        {},
        `${i.username} `,
        el('span', { class: 'muted' }, `#${i.id}`),
        ' ',
        i.suspicious
          ? el('span', { class: 'badge flagged', id: 'flag' }, `suspicious (${i.suspicious.reason})`)
          : el('span', { class: 'badge ok', id: 'flag' }, 'not flagged'),
      ),
      el(
        'div',
        { class: 'stats' },
        stat('followers', fmt(i.followerCount)),
        stat('following', fmt(i.followingCount)),
        stat('ratio', fmt(i.ratio, 2)),
        stat('rank', i.rank === null ? '–' : `#${fmt(i.rank)}`),
        stat('last seen', when(i.lastSeenAt)),
      ),
      el(
        'p',
        { class: 'muted' },
        `${s.points.length} points at resolution ${s.resolution}; rank as of ${when(i.rankedAt)}`,
      ),
    );
    const xs = s.points.map((p: Json) => Date.parse(p.t) / 1000);
    const data: uPlot.AlignedData = [
      xs,
      s.points.map((p: Json) => p.followers),
      s.points.map((p: Json) => p.following),
      s.points.map((p: Json) => p.ratio),
    ];
    chart?.destroy();
    chart = new uPlot(
      {
        width: Math.max(320, chartBox.clientWidth || 900),
        height: 320,
        series: [
          {},
          { label: 'followers', stroke: '#3b6fd8', width: 2, scale: 'followers', value: (_u, v) => fmt(v) },
          { label: 'following', stroke: '#d8873b', width: 1.5, scale: 'following', value: (_u, v) => fmt(v) },
          { label: 'ratio', stroke: '#3ba55d', width: 1.5, dash: [6, 4], scale: 'ratio', value: (_u, v) => fmt(v, 2) },
        ],
        axes: [
          {},
          { scale: 'followers', label: 'followers' },
          { scale: 'following', side: 1, label: 'following', grid: { show: false } },
          { scale: 'ratio', side: 1, label: 'ratio', grid: { show: false } },
        ],
      },
      data,
      chartBox,
    );
  } catch (err) {
    chart?.destroy();
    chart = undefined;
    box.replaceChildren(el('p', { class: 'error' }, (err as Error).message));
  }
}

async function leaderboard(cursor?: string): Promise<void> {
  const q = new URLSearchParams({
    by: state.by,
    limit: '15',
    ...(state.by === 'growth' ? { window: '24h' } : {}),
    ...(cursor ? { cursor } : {}),
  });
  const r = await api(`/api/v1/rankings?${q}`);
  const table = document.getElementById('leaderboard')!;
  const growth = state.by === 'growth';
  table.replaceChildren(
    el(
      'tr',
      {},
      el('th', {}, '#'),
      el('th', {}, 'influencer'),
      el('th', {}, 'followers'),
      el('th', {}, growth ? 'growth 24h' : 'ratio'),
    ),
    ...r.items.map((i: Json) =>
      el(
        'tr',
        {},
        el('td', {}, fmt(growth ? i.position : i.rank)),
        el('td', {}, idLink(i.id, i.username)),
        el('td', { class: 'num' }, fmt(i.followerCount)),
        el('td', { class: 'num' }, growth ? fmt(i.growth) : fmt(i.ratio, 2)),
      ),
    ),
  );
  next('leader-next', r.nextCursor);
}

async function suspicious(cursor?: string): Promise<void> {
  const r = await api(`/api/v1/suspicious?${new URLSearchParams({ limit: '15', ...(cursor ? { cursor } : {}) })}`);
  const table = document.getElementById('suspicious')!;
  table.replaceChildren(
    el('tr', {}, el('th', {}, 'influencer'), el('th', {}, 'reason'), el('th', {}, 'score'), el('th', {}, 'flagged')),
    ...r.items.map((i: Json) =>
      el(
        'tr',
        {},
        el('td', {}, idLink(i.id, i.username ?? String(i.id))),
        el('td', {}, i.reason),
        el('td', { class: 'num' }, fmt(i.score, 1)),
        el('td', {}, when(i.flaggedAt)),
      ),
    ),
  );
  if (r.items.length === 0) table.append(el('tr', {}, el('td', { colspan: '4', class: 'muted' }, 'nobody is flagged')));
  next('sus-next', r.nextCursor);
}

function next(id: string, cursor: string | null): void {
  const b = document.getElementById(id) as HTMLButtonElement;
  b.disabled = !cursor;
  b.dataset.cursor = cursor ?? '';
}

function readHash(): void {
  const h = new URLSearchParams(location.hash.slice(1));
  state.id = h.get('id') ?? '';
  const range = h.get('range');
  if (range && range in RANGES) state.range = range;
  (document.getElementById('search-id') as HTMLInputElement).value = state.id;
  (document.getElementById('range') as HTMLSelectElement).value = state.range;
}

async function main(): Promise<void> {
  layout();
  readHash();
  window.addEventListener('hashchange', () => {
    readHash();
    void influencer();
  });
  await Promise.all([stats(), influencer(), leaderboard(), suspicious()]);
  document.body.dataset.ready = 'true';
}

main().catch((err: unknown) => {
  document.getElementById('app')!.replaceChildren(el('p', { class: 'error' }, (err as Error).message));
});
