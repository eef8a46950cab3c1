/** The fault suite's table, and docs/reliability.md around it. */
import type { Verdict } from './audit';

function deadLettered(v: Verdict): string {
  const parts: string[] = [];
  if (v.poisonDeadLettered > 0 || v.poisonMissing > 0)
    parts.push(`${v.poisonDeadLettered} poison${v.poisonMissing > 0 ? ` (${v.poisonMissing} missing)` : ''}`);
  if (v.otherDeadLettered.length > 0) {
    const reasons = new Map<string, number>();
    for (const d of v.otherDeadLettered)
      reasons.set(`${d.stage}/${d.reason}`, (reasons.get(`${d.stage}/${d.reason}`) ?? 0) + 1);
    parts.push(`**${v.otherDeadLettered.length} not poison**: ${[...reasons].map(([r, n]) => `${n} ${r}`).join(', ')}`);
  }
  return parts.length === 0 ? '0' : parts.join('; ');
}

export function formatTable(verdicts: readonly Verdict[]): string {
  const header = [
    'fault',
    'slots scheduled',
    'stored',
    'lost',
    'duplicated',
    'slots emitted twice (absorbed)',
    'dead-lettered',
    'seconds to recover',
    'processes that exited',
    'verdict',
  ];
  const rows = verdicts.map((v) => [
    v.fault,
    String(v.scheduled),
    String(v.stored),
    String(v.lost),
    String(v.duplicated),
    String(v.emittedTwice),
    deadLettered(v),
    v.recoverSeconds === undefined ? 'not within 300' : v.recoverSeconds.toFixed(1),
    v.exits.length === 0 ? '0' : `**${v.exits.join(', ')}**`,
    v.ok ? 'ok' : '**FAILED**',
  ]);
  return [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

/** Below this line docs/reliability.md is written by hand (what the figures mean); a new run keeps it. */
export const NOTES_MARKER = '<!-- notes: kept by yarn test:faults -->';

/** docs/reliability.md: the run's table and definitions, then the notes of `previous` (the file as it was). */
export function writeReport(
  r: {
    command: string;
    verdicts: readonly Verdict[];
    influencers: number;
    intervalSeconds: number;
    freshSeconds: number;
    machine: string;
    date: Date;
  },
  previous = '',
): string {
  const at = previous.indexOf(NOTES_MARKER);
  const notes = at >= 0 ? previous.slice(at) : `${NOTES_MARKER}\n`;
  return `${generated(r)}\n${notes}`;
}

function generated(r: {
  command: string;
  verdicts: readonly Verdict[];
  influencers: number;
  intervalSeconds: number;
  freshSeconds: number;
  machine: string;
  date: Date;
}): string {
  return `# Reliability: the fault suite

Produced by \`${r.command}\` on ${r.date.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${r.machine}: ${r.influencers.toLocaleString('en-US')} influencers
at a ${r.intervalSeconds} s interval (${(r.influencers / r.intervalSeconds).toLocaleString('en-US')} jobs/s), three Kafka nodes (replication 3,
\`min.insync.replicas\` 2), native TimescaleDB, the mock API, the scheduler, two fetchers and a
result-handler as processes. One fault at a time; each row is one window of slot times
(see test/faults/main.ts).

${formatTable(r.verdicts)}

- **slots scheduled**: distinct (influencer, slot) the scheduler emitted a job for, with the slot
  in the window (read from the jobs topic by the suite's own consumer group).
- **stored**: of those, slots with a row in \`follower_counts\` (\`observed_at\` = the slot).
- **lost**: scheduled slots without a row once the pipeline drained (2 minutes at most).
- **duplicated**: rows beyond one per slot, plus rows in the window for a slot never scheduled.
- **slots emitted twice**: slots the scheduler emitted more than once (a claim rolled back after
  its jobs reached Kafka, then claimed again); with 0 duplicated, the second was absorbed.
- **dead-lettered**: DLQ messages seen in the window: the suite's poison (each must come back
  with its reason, \`not-json\` or \`invalid\`, from the topic it was put on), and anything else,
  which fails the fault.
- **processes that exited**: services that exited on their own (the suite starts them again, as
  compose's \`restart: unless-stopped\` would); any fails the fault.
- **seconds to recover**: from the end of the fault (the killed process restarted, or for the
  fetcher the kill itself; the broker or database back; the mock API healthy again) until the
  pipeline has caught up: every slot of the window older than ${r.freshSeconds} s is stored (those
  whose job was dead-lettered aside: they count as lost) and no
  influencer is overdue by more than that, twice in a row, one second apart (so never less than
  ${r.freshSeconds} s).
`;
}
