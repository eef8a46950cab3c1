import { createLogger } from '../../src/logger';
import { onShutdown } from '../../src/shutdown';

const logger = createLogger('test', 'silent');

describe('onShutdown', () => {
  it('runs the steps once, in order, on SIGTERM and exits 0', async () => {
    const order: string[] = [];
    const exit = jest.fn();
    const handle = onShutdown(
      logger,
      [
        { name: 'a', run: async () => void order.push('a') },
        { name: 'b', run: async () => void order.push('b') },
      ],
      { exit, signals: ['SIGUSR2'] },
    );
    try {
      const first = handle.shutdown('test');
      const again = handle.shutdown('test again');
      expect(again).toBe(first);
      await first;
      expect(order).toEqual(['a', 'b']);
      expect(exit).toHaveBeenCalledTimes(1);
      expect(exit).toHaveBeenCalledWith(0);
    } finally {
      handle.dispose();
    }
  });

  it('keeps going after a failed step and exits 1', async () => {
    const order: string[] = [];
    const exit = jest.fn();
    const handle = onShutdown(
      logger,
      [
        { name: 'a', run: async () => Promise.reject(new Error('boom')) },
        { name: 'b', run: async () => void order.push('b') },
      ],
      { exit, signals: [] },
    );
    await handle.shutdown('test');
    expect(order).toEqual(['b']);
    expect(exit).toHaveBeenCalledWith(1);
  });

  it('ignores the echoes of one signal, and runs the steps once', async () => {
    const exit = jest.fn();
    let runs = 0;
    let release = () => {};
    const handle = onShutdown(
      logger,
      [{ name: 'slow', run: () => new Promise<void>((resolve) => ((release = resolve), runs++)) }],
      { exit, signals: ['SIGUSR2'], repeatSignalGraceMs: 60_000 },
    );
    try {
      process.emit('SIGUSR2', 'SIGUSR2');
      process.emit('SIGUSR2', 'SIGUSR2'); // e.g. relayed by tsx
      process.emit('SIGUSR2', 'SIGUSR2'); // e.g. forwarded by concurrently
      expect(exit).not.toHaveBeenCalled();
      release();
      await new Promise((r) => setImmediate(r));
      expect(runs).toBe(1);
      expect(exit).toHaveBeenCalledTimes(1);
      expect(exit).toHaveBeenCalledWith(0);
    } finally {
      handle.dispose();
    }
  });

  it('exits 1 when the timeout passes, and at once on a second signal after the echo window', async () => {
    const exit = jest.fn();
    let release = () => {};
    const handle = onShutdown(
      logger,
      [{ name: 'stuck', run: () => new Promise<void>((resolve) => (release = resolve)) }],
      { exit, signals: ['SIGUSR2'], timeoutMs: 50, repeatSignalGraceMs: 20 },
    );
    try {
      process.emit('SIGUSR2', 'SIGUSR2');
      await new Promise((r) => setTimeout(r, 100));
      expect(exit).toHaveBeenCalledWith(1);
      exit.mockClear();
      process.emit('SIGUSR2', 'SIGUSR2');
      expect(exit).toHaveBeenCalledWith(1);
      release();
    } finally {
      handle.dispose();
    }
  });
});
