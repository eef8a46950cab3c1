import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { devstackSettings, localEngines, up } from '@mockstagram/devstack';
import { buildApps } from '../scripts/build';

/**
 * Before any test: make sure a real Kafka broker and a real TimescaleDB answer.
 * Engines not named by KAFKA_BROKERS / DATABASE_URL are brought up by the devstack (idempotent:
 * already running → reused). External ones are only checked. Either way the run stops here,
 * with a message saying what to do, when an engine does not answer.
 * Also builds the apps (`yarn build`, under a second): the pipeline tests run what ships,
 * `apps/<app>/dist/main.js`, as the `start` scripts and the image do.
 */
export default async function globalSetup(): Promise<void> {
  await buildApps();
  const settings = devstackSettings();
  const engines = localEngines();
  if (engines.kafka || engines.timescale) {
    await up(settings, engines, (message) => console.log(`[devstack] ${message}`));
  }
  const brokers = process.env.KAFKA_BROKERS ?? settings.kafkaBrokers;
  const databaseUrl = process.env.DATABASE_URL ?? settings.databaseUrl;
  process.env.KAFKA_BROKERS = brokers;
  process.env.DATABASE_URL = databaseUrl;
  await Promise.all([checkKafka(brokers), checkDatabase(databaseUrl)]);
}

async function checkKafka(brokers: string): Promise<void> {
  const admin = new Kafka({
    clientId: 'test-global-setup',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    retry: { retries: 2 },
  }).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
  } catch (err) {
    throw new Error(
      `Kafka at ${brokers} does not answer (${(err as Error).message}). ` +
        `Start the devstack with "yarn devstack up", or point KAFKA_BROKERS at a running broker.`,
      { cause: err },
    );
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function checkDatabase(url: string): Promise<void> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    throw new Error(
      `TimescaleDB at ${url.replace(/:[^:@/]*@/, ':***@')} does not answer (${(err as Error).message}). ` +
        `Start the devstack with "yarn devstack up", or point DATABASE_URL at a running TimescaleDB.`,
      { cause: err },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}
