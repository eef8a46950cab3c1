/**
 * Many waiters on one AbortSignal, cheaply.
 *
 * Node's `EventTarget.addEventListener` walks every listener already registered (it ignores
 * duplicates), so thousands of jobs each listening to the fetcher's one shutdown signal cost
 * O(n²) (see docs/performance.md, "Small costs behind choices in the code"). Here the signal gets ONE
 * listener, and the callbacks live in a Set (O(1) to add and remove).
 */
const watchers = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `fn` once when `signal` aborts (not if it already has: check `signal.aborted` first).
 * Returns the function that unregisters it; call it when the work is done.
 */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  let callbacks = watchers.get(signal);
  if (callbacks === undefined) {
    const set = new Set<() => void>();
    callbacks = set;
    watchers.set(signal, set);
    signal.addEventListener(
      'abort',
      () => {
        const pending = [...set];
        set.clear();
        for (const callback of pending) callback();
      },
      { once: true },
    );
  }
  const set = callbacks;
  set.add(fn);
  return () => {
    set.delete(fn);
  };
}
