/**
 * The `yarn bench queries` writer, in a process of its own (forked by bench/queries.ts): stores
 * `rate` samples a second through the result-handler's statement (`storeResults`), in batches
 * every 200 ms, for random influencers among `influencers` starting at `firstId`. In a deployment
 * the pipeline's writes come from the result-handler's process, not from the client measuring the
 * api; here they are kept off the load generator's event loop for the same reason, so that
 * building and sending a batch does not delay autocannon's reading of responses.
 *
 * Protocol (IPC): started with `{ url, rate, influencers, firstId }` as JSON in argv[2]; sends
 * `{ ready: true }` once connected; on the message `'stop'` it finishes the batch in flight and
 * sends `{ written, batches, late }` (late = batches that started over 200 ms after their slot).
 */
import { randomUUID } from 'node:crypto';
import { countsAt } from '@mockstagram/mock-api';
import { storeResults } from '@mockstagram/result-handler';
import { createPool, type FetchResult } from '@mockstagram/shared';

interface WriterOptions {
  url: string;
  rate: number;
  influencers: number;
  firstId: number;
}

export interface WriterSummary {
  written: number;
  batches: number;
  late: number;
}

async function main(): Promise<void> {
  const o = JSON.parse(process.argv[2] ?? '{}') as WriterOptions;
  const pool = createPool({ connectionString: o.url, max: 2, applicationName: 'bench-writer' });
  await pool.query('SELECT 1');
  let writing = true;
  process.on('message', (m) => {
    if (m === 'stop') writing = false;
  });
  process.send?.({ ready: true });
  const batch = Math.max(1, Math.round(o.rate / 5));
  const summary: WriterSummary = { written: 0, batches: 0, late: 0 };
  let next = Date.now();
  while (writing) {
    const now = Date.now();
    if (now - next > 200) summary.late++;
    const rows: FetchResult[] = [];
    for (let i = 0; i < batch; i++) {
      const id = o.firstId + Math.floor(Math.random() * o.influencers);
      const c = countsAt(id, now);
      rows.push({
        jobId: randomUUID(),
        influencerId: id,
        username: c.username,
        followerCount: c.followerCount,
        followingCount: c.followingCount,
        observedAt: new Date(now + i).toISOString(),
      });
    }
    summary.written += (await storeResults(pool, rows)).inserted;
    summary.batches++;
    next += 200;
    await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
  }
  await pool.end();
  process.send?.(summary, () => process.exit(0));
}

main().catch((err: unknown) => {
  process.stderr.write(`bench writer: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
