import { UpstreamHealth } from '../../src/upstream-health';

const settings = { failureRate: 0.2, minRequests: 10 };

test('fewer attempts than minRequests since the mark: never an outage, even if all failed', () => {
  const health = new UpstreamHealth(settings);
  const mark = health.mark();
  for (let i = 0; i < 9; i++) health.record(true);
  expect(health.since(mark)).toEqual({ attempts: 9, failures: 9 });
  expect(health.inOutageSince(mark)).toBe(false);
  health.record(true);
  expect(health.inOutageSince(mark)).toBe(true);
});

test('an outage is more than failureRate of the attempts since the mark failing', () => {
  const health = new UpstreamHealth(settings);
  const mark = health.mark();
  for (let i = 0; i < 80; i++) health.record(false);
  for (let i = 0; i < 20; i++) health.record(true);
  expect(health.inOutageSince(mark)).toBe(false); // exactly 20 %
  health.record(true);
  expect(health.inOutageSince(mark)).toBe(true);
});

test('attempts before the mark do not count', () => {
  const health = new UpstreamHealth(settings);
  for (let i = 0; i < 100; i++) health.record(true);
  const mark = health.mark();
  for (let i = 0; i < 50; i++) health.record(false);
  expect(health.since(mark)).toEqual({ attempts: 50, failures: 0 });
  expect(health.inOutageSince(mark)).toBe(false);
});

test('failureRate 1 never holds', () => {
  const health = new UpstreamHealth({ failureRate: 1, minRequests: 1 });
  const mark = health.mark();
  for (let i = 0; i < 100; i++) health.record(true);
  expect(health.inOutageSince(mark)).toBe(false);
});
