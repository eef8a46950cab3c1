import { daysAgo, freePorts, hoursAgo, idRange, metricSum, uniqueName, withSearchPath } from '@mockstagram/testkit';

test('uniqueName: the prefix, then a part that differs from call to call', () => {
  const a = uniqueName('jobs');
  expect(a).toMatch(/^jobs_[0-9a-z]+_[0-9a-f]{6}$/);
  expect(uniqueName('jobs')).not.toBe(a);
});

test('withSearchPath puts the schema first in the search_path, public after it', () => {
  const url = new URL(withSearchPath('postgres://postgres@127.0.0.1:6432/postgres', 'test_x'));
  expect(url.searchParams.get('options')).toBe('-c search_path=test_x,public');
  expect(url.pathname).toBe('/postgres');
});

test('hoursAgo starts at an hour boundary; daysAgo is a UTC date', () => {
  const now = Date.UTC(2026, 0, 10, 12, 34, 56);
  expect(hoursAgo(2, now)).toBe(Date.UTC(2026, 0, 10, 10));
  expect(daysAgo(3, now)).toBe('2026-01-07');
});

test('metricSum adds the samples whose labels include the given ones', () => {
  const text = [
    '# HELP jobs_total Jobs.',
    '# TYPE jobs_total counter',
    'jobs_total{outcome="ok",topic="a"} 3',
    'jobs_total{outcome="ok",topic="b"} 4',
    'jobs_total{outcome="dlq",topic="a"} 1',
    'jobs_total_other 100',
  ].join('\n');
  expect(metricSum(text, 'jobs_total')).toBe(8);
  expect(metricSum(text, 'jobs_total', { outcome: 'ok' })).toBe(7);
  expect(metricSum(text, 'jobs_total', { outcome: 'ok', topic: 'b' })).toBe(4);
  expect(metricSum(text, 'missing_total')).toBe(0);
});

test('idRange and freePorts', async () => {
  expect(idRange(5, 3)).toEqual([5, 6, 7]);
  const ports = await freePorts(3);
  expect(new Set(ports).size).toBe(3);
});
