/** compose's TimescaleDB runs the release the devstack's native engine builds, on PostgreSQL 15–17. */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { TIMESCALEDB_VERSION } from '@mockstagram/devstack';

test('the timescaledb image is the pinned TimescaleDB release for a supported PostgreSQL', () => {
  const compose = parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, { image?: string }>;
  };
  const image = compose.services.timescaledb?.image ?? '';
  const m = /^timescale\/timescaledb:(\d+\.\d+\.\d+)-pg(\d+)$/.exec(image);
  expect({ image, version: m?.[1], pgSupported: m ? [15, 16, 17].includes(Number(m[2])) : false }).toEqual({
    image,
    version: TIMESCALEDB_VERSION,
    pgSupported: true,
  });
});
