/**
 * The influencer registry: registering, activating, deactivating and reading influencers.
 *
 * @module
 */
import type { Pool } from '@mockstagram/shared';
import { getInfluencer } from './sql/getInfluencer';
import { registerIds } from './sql/registerIds';
import { registerRange } from './sql/registerRange';
import { setActiveIds, setActiveRange } from './sql/setActive';
import type { InfluencerRow, RegisterCounts, SetActiveCounts } from './sql/types';
import type { Selection } from './selection';

export type { InfluencerRow } from './sql/types';

/**
 * Ids per statement for ranges and for lists. Each chunk is one autocommitted statement, so a big
 * registration never holds the database in one long transaction; if it fails half-way, run it
 * again (registration is idempotent).
 */
const RANGE_CHUNK_SIZE = 20_000;
const IDS_CHUNK_SIZE = 10_000;

export interface InfluencerRegistryOptions {
  pool: Pool;
  /**
   * Interval of newly registered influencers when none is given (`SCHEDULER_DEFAULT_INTERVAL_SECONDS`:
   * `registrySettings(config)`, or `REGISTRY_DEFAULTS`, in src/config.ts).
   */
  defaultIntervalSeconds: number;
  /** Tests: ids per statement for ranges / lists, instead of the module's chunk sizes. */
  rangeChunkSize?: number;
  idsChunkSize?: number;
}

export interface RegisterOptions {
  /** Fetch interval in seconds. Default: `defaultIntervalSeconds` for new ids; known ids keep theirs. */
  intervalSeconds?: number;
  /** Spread new ids' first fetch over one interval (default true); false: due now. */
  spread?: boolean;
}

export interface RegisterResult {
  /** Distinct ids named. */
  requested: number;
  /** Not known before, now registered and active. */
  inserted: number;
  /** Known and re-activated, or given a new interval. */
  updated: number;
  /** Known, already active with that interval: left alone. */
  unchanged: number;
  durationMs: number;
}

export interface SetActiveResult {
  /** Distinct ids named. */
  requested: number;
  /** Of those, registered ones. */
  found: number;
  /** Of those, the ones whose state changed. */
  changed: number;
  durationMs: number;
}

export class InfluencerRegistry {
  readonly defaultIntervalSeconds: number;
  private readonly pool: Pool;
  private readonly rangeChunkSize: number;
  private readonly idsChunkSize: number;

  constructor(options: InfluencerRegistryOptions) {
    this.pool = options.pool;
    this.defaultIntervalSeconds = options.defaultIntervalSeconds;
    this.rangeChunkSize = options.rangeChunkSize ?? RANGE_CHUNK_SIZE;
    this.idsChunkSize = options.idsChunkSize ?? IDS_CHUNK_SIZE;
  }

  /**
   * Registers (or re-activates) the selected influencers. New ones are active with the given or
   * default interval; their first fetch is spread over one interval unless `spread: false`.
   */
  async register(selection: Selection, options: RegisterOptions = {}): Promise<RegisterResult> {
    const started = Date.now();
    const common = {
      intervalSeconds: options.intervalSeconds ?? null,
      defaultIntervalSeconds: this.defaultIntervalSeconds,
      spread: options.spread ?? true,
    };
    const total: RegisterCounts = { inserted: 0, updated: 0 };
    const add = (c: RegisterCounts) => {
      total.inserted += c.inserted;
      total.updated += c.updated;
    };
    let requested: number;
    if ('ids' in selection) {
      const ids = [...new Set(selection.ids)];
      requested = ids.length;
      for (const chunk of chunks(ids, this.idsChunkSize)) add(await registerIds(this.pool, { ids: chunk, ...common }));
    } else {
      requested = selection.range.to - selection.range.from + 1;
      for (const [from, to] of rangeChunks(selection.range, this.rangeChunkSize)) {
        add(await registerRange(this.pool, { from, to, ...common }));
      }
    }
    return {
      requested,
      ...total,
      unchanged: requested - total.inserted - total.updated,
      durationMs: Date.now() - started,
    };
  }

  /** Deactivates the selected influencers: no more jobs for them. Unknown ids are ignored (see `found`). */
  deactivate(selection: Selection): Promise<SetActiveResult> {
    return this.setActive(selection, false, true);
  }

  /**
   * Activates already registered influencers (unknown ids are ignored; use {@link register} to
   * add them). A re-activated influencer's first fetch is spread over one interval unless `spread: false`.
   */
  activate(selection: Selection, options: { spread?: boolean } = {}): Promise<SetActiveResult> {
    return this.setActive(selection, true, options.spread ?? true);
  }

  /** One influencer, or `undefined` when it is not registered. */
  get(id: number): Promise<InfluencerRow | undefined> {
    return getInfluencer(this.pool, id);
  }

  private async setActive(selection: Selection, active: boolean, spread: boolean): Promise<SetActiveResult> {
    const started = Date.now();
    const total: SetActiveCounts = { found: 0, changed: 0 };
    const add = (c: SetActiveCounts) => {
      total.found += c.found;
      total.changed += c.changed;
    };
    let requested: number;
    if ('ids' in selection) {
      const ids = [...new Set(selection.ids)];
      requested = ids.length;
      for (const chunk of chunks(ids, this.idsChunkSize))
        add(await setActiveIds(this.pool, { ids: chunk, active, spread }));
    } else {
      requested = selection.range.to - selection.range.from + 1;
      for (const [from, to] of rangeChunks(selection.range, this.rangeChunkSize)) {
        add(await setActiveRange(this.pool, { from, to, active, spread }));
      }
    }
    return { requested, ...total, durationMs: Date.now() - started };
  }
}

function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

function* rangeChunks(range: { from: number; to: number }, size: number): Generator<[number, number]> {
  for (let from = range.from; from <= range.to; from += size) yield [from, Math.min(range.to, from + size - 1)];
}
