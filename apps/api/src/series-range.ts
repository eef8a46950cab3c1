import { MAX_RANGE_SECONDS, RESOLUTIONS, type Resolution } from './schemas';

export type RangeChoice =
  { ok: true; from: Date; to: Date; resolution: Resolution } | { ok: false; parameter: string; message: string };

const DEFAULT_RANGE_MS = 86_400_000;

/**
 * The range and resolution of a series request: defaults filled in (to = now, from = to - 24 h,
 * resolution = the finest that serves the range), and a resolution too fine for the range
 * refused with the ones that would serve it.
 */
export function chooseSeriesRange(
  query: { from?: string; to?: string; resolution?: Resolution },
  now: number,
): RangeChoice {
  const to = query.to === undefined ? new Date(now) : new Date(query.to);
  const from = query.from === undefined ? new Date(to.getTime() - DEFAULT_RANGE_MS) : new Date(query.from);
  if (!(from < to))
    return {
      ok: false,
      parameter: 'from',
      message: `from (${from.toISOString()}) must be before to (${to.toISOString()})`,
    };
  const seconds = (to.getTime() - from.getTime()) / 1000;
  const serving = RESOLUTIONS.filter((r) => seconds <= MAX_RANGE_SECONDS[r]);
  if (serving.length === 0) {
    return {
      ok: false,
      parameter: 'from',
      message: `a range of ${describe(seconds)} is longer than any resolution serves (1d: up to ${describe(MAX_RANGE_SECONDS['1d'])}); narrow from/to`,
    };
  }
  if (query.resolution === undefined) return { ok: true, from, to, resolution: serving[0] };
  if (!serving.includes(query.resolution)) {
    return {
      ok: false,
      parameter: 'resolution',
      message:
        `resolution=${query.resolution} serves ranges up to ${describe(MAX_RANGE_SECONDS[query.resolution])}, ` +
        `this one is ${describe(seconds)}: use resolution=${serving[0]}${serving.length > 1 ? ` (or ${serving.slice(1).join(', ')})` : ''}, or a shorter range`,
    };
  }
  return { ok: true, from, to, resolution: query.resolution };
}

function describe(seconds: number): string {
  if (seconds >= 86_400) return `${+(seconds / 86_400).toFixed(1)} days`;
  if (seconds >= 3600) return `${+(seconds / 3600).toFixed(1)} hours`;
  return `${+seconds.toFixed(0)} seconds`;
}
