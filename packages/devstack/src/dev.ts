import { spawn } from 'node:child_process';
import path from 'node:path';
import { concurrently } from 'concurrently';
import { z } from 'zod';
import { DATABASE_ROLES, databaseUrlAs } from '@mockstagram/shared/roles';
import { assertMigratedByMigrator } from './database-roles';
import { repoRoot } from './paths';
import { connectAsPostgres } from './postgres-client';
import { downObservability, observabilityStatus, upObservability } from './observability';
import { localTargets } from './scrape-targets';
import { devstackSettings } from './settings';
import { down, localEngines, status, up } from './stack';

/**
 * `yarn dev`: the whole pipeline on this machine, logs in one terminal prefixed by service.
 * Engines not named by KAFKA_BROKERS / DATABASE_URL come from the devstack; then migrations,
 * a default set of influencers, and the services (the api's page at http://127.0.0.1:8084/).
 * Ctrl-C stops the services and, if this command started them, the engines. `yarn dev
 * --observability` also runs Jaeger and Prometheus (observability.ts) and has the services export
 * their spans to that Jaeger.
 */
const devEnv = z.object({
  /** How many influencers `yarn dev` registers (ids from 1000000 upwards). */
  DEV_INFLUENCERS: z.coerce.number().int().min(0).default(10_000),
});

const services = ['mock-api', 'scheduler', 'fetcher', 'result-handler', 'api'] as const;

/** The database role of each step that uses the database. */
const roles = {
  migrate: DATABASE_ROLES.migrator,
  register: DATABASE_ROLES.scheduler,
  scheduler: DATABASE_ROLES.scheduler,
  'result-handler': DATABASE_ROLES.resultHandler,
  api: DATABASE_ROLES.reader,
} as const;

function tsx(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [require.resolve('tsx/cli'), ...args], {
      cwd: repoRoot,
      env,
      stdio: 'inherit',
    });
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`tsx ${args.join(' ')} exited with ${signal ?? code}`)),
    );
  });
}

async function main(argv: string[]): Promise<void> {
  const unknown = argv.filter((a) => a !== '--observability');
  if (unknown.length > 0) throw new Error(`unknown option ${unknown[0]}; usage: yarn dev [--observability]`);
  const observability = argv.includes('--observability');
  const parsed = devEnv.safeParse(process.env);
  if (!parsed.success) {
    throw new Error(`DEV_INFLUENCERS=${JSON.stringify(process.env.DEV_INFLUENCERS)}: expected a non-negative integer`);
  }
  const count = parsed.data.DEV_INFLUENCERS;
  const settings = devstackSettings();
  const engines = localEngines();
  const log = (message: string) => console.log(`[devstack] ${message}`);

  const before = status(settings);
  const startedHere = {
    kafka: engines.kafka && !before.kafka.running,
    timescale: engines.timescale && !before.timescale.running,
  };
  if (engines.kafka || engines.timescale) await up(settings, engines, log);

  const databaseUrl = (role: string) => process.env.DATABASE_URL ?? databaseUrlAs(settings.databaseUrl, role);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? settings.kafkaBrokers,
    // the fetcher follows the mock API when MOCK_API_PORT moves it
    ...(process.env.MOCK_API_PORT && !process.env.MOCK_API_URL
      ? { MOCK_API_URL: `http://127.0.0.1:${process.env.MOCK_API_PORT}` }
      : {}),
  };
  const observabilityStartedHere = observability && !observabilityStatus(settings).jaeger.running;
  if (observability) {
    await upObservability(settings, log, { targets: localTargets(settings.host, env) });
    env.OTEL_EXPORTER_OTLP_ENDPOINT = process.env.OTEL_EXPORTER_OTLP_ENDPOINT || settings.otlpEndpoint;
    log(
      `traces: ${settings.jaegerUrl} (query API ${settings.jaegerUrl}/api/traces), metrics and alerts: ${settings.prometheusUrl}`,
    );
  }
  // (PGlite runs every session as its superuser, so there the owner is always postgres.)
  if (!process.env.DATABASE_URL && status(settings).timescale.engine === 'native') {
    const client = await connectAsPostgres(settings.host, settings.pgPort);
    try {
      await assertMigratedByMigrator(client);
    } finally {
      await client.end();
    }
  }
  await tsx([path.join('packages', 'shared', 'src', 'migrate-cli.ts')], {
    ...env,
    DATABASE_URL: databaseUrl(roles.migrate),
  });
  if (count > 0) {
    await tsx([path.join('apps', 'scheduler', 'src', 'cli.ts'), 'register', `1000000-${1000000 + count - 1}`], {
      ...env,
      DATABASE_URL: databaseUrl(roles.register),
    });
  }

  const { result } = concurrently(
    services.map((name) => ({
      name,
      command: `"${process.execPath}" "${require.resolve('tsx/cli')}" apps/${name}/src/main.ts`,
      env: name in roles ? { ...env, DATABASE_URL: databaseUrl(roles[name as keyof typeof roles]) } : env,
      cwd: repoRoot,
    })),
    { prefix: '{name}', padPrefix: true, killOthersOn: ['failure'], killSignal: 'SIGTERM', cwd: repoRoot },
  );
  let failed = false;
  await result.catch(() => {
    failed = true;
  });
  if (startedHere.kafka || startedHere.timescale) {
    log('stopping the engines this command started');
    await down(settings, log);
  }
  if (observabilityStartedHere) await downObservability(settings, log);
  if (failed) process.exitCode = 1;
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(`dev: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
