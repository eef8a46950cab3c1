import { Faults, NO_FAULTS } from '../../src/faults';

describe('Faults', () => {
  test('are off by default', () => {
    const faults = new Faults();
    expect(faults.get()).toEqual(NO_FAULTS);
    expect(faults.isActive).toBe(false);
    expect(faults.plan()).toEqual({ hang: false, delayMs: 0, outcome: 'ok' });
  });

  test('partial updates are validated and name the bad field', () => {
    const faults = new Faults();
    expect(faults.update({ errorRate: 0.5 })).toEqual({ ok: true, settings: { ...NO_FAULTS, errorRate: 0.5 } });
    const tooBig = faults.update({ errorRate: 2 });
    expect(tooBig.ok).toBe(false);
    expect(!tooBig.ok && tooBig.message).toMatch(/errorRate/);
    const unknown = faults.update({ errorRate: 0.1, bogus: 1 });
    expect(!unknown.ok && unknown.message).toMatch(/bogus/);
    const wrongType = faults.update({ latencyMs: '100' });
    expect(!wrongType.ok && wrongType.message).toMatch(/latencyMs/);
    const notInt = faults.update({ retryAfterSeconds: 1.5 });
    expect(!notInt.ok && notInt.message).toMatch(/retryAfterSeconds/);
    expect(faults.update([1]).ok).toBe(false);
    expect(faults.get().errorRate).toBe(0.5); // failed updates change nothing
  });

  test('reset returns to the defaults given at construction', () => {
    const defaults = { ...NO_FAULTS, retryAfterSeconds: 7, latencyMs: 3 };
    const faults = new Faults(defaults);
    expect(faults.isActive).toBe(true);
    faults.update({ errorRate: 1, latencyMs: 0 });
    expect(faults.reset()).toEqual(defaults);
  });

  test('plans follow the rates (scripted random)', () => {
    let next = 0;
    const faults = new Faults(NO_FAULTS, () => next);
    faults.update({ hangRate: 0.5 });
    next = 0.4;
    expect(faults.plan().hang).toBe(true);
    next = 0.6;
    expect(faults.plan().hang).toBe(false);
    faults.update({
      hangRate: 0,
      errorRate: 0.5,
      rateLimitRate: 0.7,
      malformedRate: 0.9,
      latencyMs: 10,
      latencyJitterMs: 10,
    });
    next = 0.4;
    expect(faults.plan()).toEqual({ hang: false, delayMs: 14, outcome: 'error' });
    next = 0.6;
    expect(faults.plan()).toEqual({ hang: false, delayMs: 16, outcome: 'rateLimit' });
    next = 0.8;
    expect(faults.plan()).toEqual({ hang: false, delayMs: 18, outcome: 'malformed' });
    next = 0.95;
    expect(faults.plan()).toEqual({ hang: false, delayMs: 19.5, outcome: 'ok' });
  });

  test('rates hold statistically with Math.random', () => {
    const faults = new Faults({ ...NO_FAULTS, errorRate: 0.3 });
    let errors = 0;
    for (let i = 0; i < 10_000; i++) if (faults.plan().outcome === 'error') errors++;
    expect(errors).toBeGreaterThan(2_500);
    expect(errors).toBeLessThan(3_500);
  });
});
