/**
 * The expander in grafana-sql.ts against what Grafana documents and its source does
 * (pkg/tsdb/grafana-postgresql-datasource/macros.go, the SQL datasource's interpolateVariable).
 */
import { expandSql, formatInterval, panelIntervalMs, rfc3339, type ExpandOptions } from '../grafana/grafana-sql';

const from = new Date('2026-03-01T10:00:00Z');
const to = new Date('2026-03-01T11:00:00.250Z');
const base: ExpandOptions = {
  from,
  to,
  intervalMs: 300_000,
  variables: {
    influencer: { value: ['1000001', "o'neil"], multi: true },
    single: { value: '42' },
    picked: { value: ['7'], multi: true },
  },
};

test('time macros: RFC 3339 in UTC, trailing zeros trimmed like Go', () => {
  expect(expandSql('WHERE $__timeFilter(observed_at)', base)).toBe(
    "WHERE observed_at BETWEEN '2026-03-01T10:00:00Z' AND '2026-03-01T11:00:00.25Z'",
  );
  expect(expandSql('$__timeFrom() $__timeTo()', base)).toBe("'2026-03-01T10:00:00Z' '2026-03-01T11:00:00.25Z'");
  expect(expandSql('$__time(bucket)', base)).toBe('bucket AS "time"');
  expect(expandSql('$__unixEpochFilter(t)', base)).toBe('t >= 1772359200 AND t <= 1772362800');
  expect(rfc3339(new Date('2026-03-01T10:00:00.123Z'))).toBe('2026-03-01T10:00:00.123Z');
});

test('$__timeGroup with timescaledb: time_bucket with seconds to 3 decimals; the alias form adds AS "time"', () => {
  expect(expandSql('$__timeGroupAlias(fc.observed_at, $__interval)', base)).toBe(
    `time_bucket('300.000s',fc.observed_at) AS "time"`,
  );
  expect(expandSql("$__timeGroup(t, '1h')", base)).toBe(`time_bucket('3600.000s',t)`);
  // Pre-5.3 spelling: $__timeGroup directly followed by a comma gets the alias too.
  expect(expandSql('SELECT $__timeGroup(t, 1m), v', base)).toBe(`SELECT time_bucket('60.000s',t) AS "time", v`);
  expect(() => expandSql('$__timeGroup(t, 1m, NULL)', base)).toThrow(/fill modes/);
  expect(() => expandSql('$__timeGroup(t, soon)', base)).toThrow(/error parsing interval/);
});

test('$__interval and $__interval_ms', () => {
  expect(expandSql('$__interval / $__interval_ms', base)).toBe('5m / 300000');
  expect(formatInterval(3_600_000)).toBe('1h');
  expect(formatInterval(86_400_000)).toBe('1d');
  expect(formatInterval(90_000)).toBe('1m');
  // 1 h over 1,000 points → 3.6 s → "nice" 2 s → raised to the datasource minimum of 1 min.
  expect(panelIntervalMs(from, new Date(from.getTime() + 3_600_000), 1000, 60_000)).toBe(60_000);
  // 30 days over 1,000 points → 43.2 min → 30 min.
  expect(panelIntervalMs(from, new Date(from.getTime() + 30 * 86_400_000), 1000, 60_000)).toBe(1_800_000);
});

test('template variables: multi-value quoted by default, explicit formats, single value as is', () => {
  expect(expandSql('IN ($influencer)', base)).toBe("IN ('1000001','o''neil')");
  expect(expandSql('IN (${influencer})', base)).toBe("IN ('1000001','o''neil')");
  expect(expandSql('IN ([[influencer]])', base)).toBe("IN ('1000001','o''neil')");
  expect(expandSql('IN (${picked})', base)).toBe("IN ('7')");
  expect(expandSql('${influencer:csv}', base)).toBe("1000001,o'neil");
  expect(expandSql('${influencer:sqlstring}', base)).toBe("'1000001','o''neil'");
  expect(expandSql('$single / 100.0', base)).toBe('42 / 100.0');
  expect(() => expandSql('${influencer:percentencode}', base)).toThrow(/not supported/);
});

test('$__searchFilter: the typed text followed by %, or % alone; undefined outside variable queries', () => {
  const sql = "WHERE name ILIKE '%$__searchFilter'";
  expect(expandSql(sql, { ...base, searchFilter: '' })).toBe("WHERE name ILIKE '%%'");
  expect(expandSql(sql, { ...base, searchFilter: 'kav' })).toBe("WHERE name ILIKE '%kav%'");
  expect(() => expandSql(sql, base)).toThrow(/\$__searchFilter" is left unexpanded/);
});

test('anything unknown fails instead of reaching the database', () => {
  expect(() => expandSql('WHERE $__timeFilterr(t)', base)).toThrow(/unknown macro/);
  expect(() => expandSql('WHERE id IN ($nobody)', base)).toThrow(/"\$nobody" is left unexpanded/);
  expect(() => expandSql('WHERE id IN (${nobody:csv})', base)).toThrow(/left unexpanded/);
  expect(() => expandSql('SELECT $__rate_interval', base)).toThrow(/left unexpanded/);
});
