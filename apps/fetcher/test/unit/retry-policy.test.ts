import {
  classifyStatus,
  fullJitterDelayMs,
  parseRetryAfter,
  RETRY_AFTER_MARGIN_MS,
  retryDelayMs,
  statusLabel,
} from '../../src/retry-policy';
import { Semaphore } from '../../src/semaphore';

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-03-01T12:00:00Z');

  test('delay-seconds', () => {
    expect(parseRetryAfter('1', now)).toBe(1000);
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
    expect(parseRetryAfter(['3', '9'], now)).toBe(3000);
  });

  test('HTTP-date, relative to now, never negative', () => {
    expect(parseRetryAfter('Sun, 01 Mar 2026 12:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Sun, 01 Mar 2026 11:59:00 GMT', now)).toBe(0);
    // obsolete RFC 850 form is still a date Date.parse reads
    expect(parseRetryAfter('Sunday, 01-Mar-26 12:00:10 GMT', now)).toBe(10_000);
  });

  test('missing or unusable values give undefined', () => {
    for (const v of [undefined, '', '   ', '-1', '1.5', 'soon', 'Sun, 99 Foo 2026 99:99:99 GMT', '1e3']) {
      expect([v, parseRetryAfter(v, now)]).toEqual([v, undefined]);
    }
  });
});

describe('backoff', () => {
  const settings = { baseMs: 100, maxMs: 5000 };

  test('full jitter stays in [0, min(max, base * 2^(n-1)))', () => {
    for (let retry = 1; retry <= 12; retry++) {
      const window = Math.min(5000, 100 * 2 ** (retry - 1));
      expect(fullJitterDelayMs(retry, settings, () => 0)).toBe(0);
      expect(fullJitterDelayMs(retry, settings, () => 0.999999)).toBe(window - 1);
      for (let i = 0; i < 200; i++) {
        const d = fullJitterDelayMs(retry, settings);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(window);
        expect(Number.isInteger(d)).toBe(true);
      }
    }
  });

  test('the window doubles per retry up to the cap', () => {
    const top = (retry: number) => fullJitterDelayMs(retry, settings, () => 0.5) * 2;
    expect([1, 2, 3, 4, 5, 6, 7, 20].map(top)).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000]);
  });

  test('Retry-After is a floor (plus a margin), never shortened', () => {
    expect(retryDelayMs(1, 1000, settings, () => 0.99)).toBe(1000 + RETRY_AFTER_MARGIN_MS);
    expect(retryDelayMs(1, 0, settings, () => 0)).toBe(RETRY_AFTER_MARGIN_MS);
    // a longer jittered backoff wins over a short Retry-After
    expect(retryDelayMs(8, 10, settings, () => 0.5)).toBe(2500);
    expect(retryDelayMs(3, undefined, settings, () => 0.5)).toBe(200);
  });
});

describe('status classification', () => {
  test.each([
    [200, 'success', '2xx'],
    [204, 'success', '2xx'],
    [301, 'unexpected', '3xx'],
    [400, 'client-error', '4xx'],
    [401, 'client-error', '4xx'],
    [404, 'not-found', '4xx'],
    [408, 'transient', '4xx'],
    [429, 'transient', '429'],
    [500, 'transient', '5xx'],
    [503, 'transient', '5xx'],
  ])('%i → %s, counted as %s', (status, kind, label) => {
    expect(classifyStatus(status)).toBe(kind);
    expect(statusLabel(status)).toBe(label);
  });
});

describe('Semaphore', () => {
  test('bounds holders, hands permits over in FIFO order, and lets aborted waiters go', async () => {
    const s = new Semaphore(2);
    const r1 = await s.acquire();
    const r2 = await s.acquire();
    const order: number[] = [];
    const w3 = s.acquire().then((r) => (order.push(3), r));
    const controller = new AbortController();
    const w4 = s.acquire(controller.signal);
    const w5 = s.acquire().then((r) => (order.push(5), r));
    expect([s.inUse, s.waiting]).toEqual([2, 3]);
    controller.abort(new Error('stop'));
    await expect(w4).rejects.toThrow('stop');
    expect(s.waiting).toBe(2);
    r1();
    r1(); // a second call is ignored
    const r3 = await w3;
    r2();
    const r5 = await w5;
    expect(order).toEqual([3, 5]);
    expect(s.inUse).toBe(2);
    r3();
    r5();
    expect(s.inUse).toBe(0);
  });
});
