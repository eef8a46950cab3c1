/**
 * Graceful shutdown on SIGTERM / SIGINT.
 *
 * @module
 */
import type { Logger } from './logger';

/** One thing to stop, e.g. `{ name: 'stage', run: () => stage.stop() }`. */
export interface ShutdownStep {
  name: string;
  run: () => Promise<void>;
}

export interface ShutdownOptions {
  /** Give up after this long and exit 1. Default 15 000 ms (below compose's / Kubernetes' grace periods). */
  timeoutMs?: number;
  /** Signals to handle. Default `['SIGTERM', 'SIGINT']`. */
  signals?: NodeJS.Signals[];
  /**
   * A signal this soon after the first is an echo of the same request (one Ctrl-C reaches a
   * service from the terminal, from a wrapper such as tsx and from a runner such as
   * concurrently), not a second one. Default 2000 ms.
   */
  repeatSignalGraceMs?: number;
  /** How to exit. Default `process.exit`; tests pass a spy. */
  exit?: (code: number) => void;
}

export interface ShutdownHandle {
  /**
   * Starts the shutdown without a signal, e.g. after a fatal error (a stage's `onFatal`).
   * `exitCode` 1 makes the process exit 1 even if every step succeeds. Calling it while a
   * shutdown runs returns the running one.
   */
  shutdown(reason: string, exitCode?: number): Promise<void>;
  /** Removes the signal handlers (for tests). */
  dispose(): void;
}

/**
 * Installs the service's shutdown sequence. On the first SIGTERM/SIGINT the steps run once, in
 * order (list them in the order to stop: stop taking work first, close connections last), each
 * logged with its duration. A failing step is logged and the next one still runs. Then the
 * process exits: 0 if every step succeeded, 1 if a step failed or `timeoutMs` passed.
 * A second signal exits 1 immediately, unless it comes within `repeatSignalGraceMs` of the first
 * (the echoes of one Ctrl-C).
 *
 * @example
 * onShutdown(logger, [
 *   { name: 'stage', run: () => stage.stop() },
 *   { name: 'http', run: () => http.close() },
 *   { name: 'database pool', run: () => pool.end() },
 * ]);
 */
export function onShutdown(logger: Logger, steps: ShutdownStep[], options: ShutdownOptions = {}): ShutdownHandle {
  const {
    timeoutMs = 15_000,
    signals = ['SIGTERM', 'SIGINT'],
    repeatSignalGraceMs = 2000,
    exit = (code: number) => process.exit(code),
  } = options;
  let running: Promise<void> | undefined;

  const run = async (reason: string, exitCode: number): Promise<void> => {
    const started = Date.now();
    logger.info({ reason, steps: steps.map((s) => s.name) }, `shutting down (${reason})`);
    let failed = exitCode !== 0;
    let current = '';
    const timer = setTimeout(() => {
      logger.error(
        { step: current, timeoutMs },
        `shutdown timed out after ${timeoutMs} ms in step "${current}"; exiting 1`,
      );
      exit(1);
    }, timeoutMs);
    for (const step of steps) {
      current = step.name;
      const t0 = Date.now();
      try {
        await step.run();
        logger.info({ step: step.name, durationMs: Date.now() - t0 }, `shutdown: ${step.name} done`);
      } catch (err) {
        failed = true;
        logger.error({ err, step: step.name, durationMs: Date.now() - t0 }, `shutdown: ${step.name} failed`);
      }
    }
    clearTimeout(timer);
    const code = failed ? 1 : 0;
    logger.info({ durationMs: Date.now() - started, exitCode: code }, `shutdown complete, exiting ${code}`);
    exit(code);
  };

  const shutdown = (reason: string, exitCode = 0): Promise<void> => {
    running ??= run(reason, exitCode);
    return running;
  };

  let firstSignalAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (running) {
      if (Date.now() - firstSignalAt < repeatSignalGraceMs) {
        logger.debug({ signal }, `${signal} again within ${repeatSignalGraceMs} ms; already shutting down`);
        return;
      }
      logger.warn({ signal }, `second ${signal} during shutdown; exiting 1 now`);
      exit(1);
      return;
    }
    firstSignalAt = Date.now();
    void shutdown(signal);
  };

  for (const signal of signals) process.on(signal, onSignal);
  return {
    shutdown,
    dispose: () => {
      for (const signal of signals) process.off(signal, onSignal);
    },
  };
}
