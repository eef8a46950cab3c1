/**
 * .env.example lists every variable the services read, with the defaults their config schemas
 * hold (the one place defaults are written). Pure: reads files and schemas, starts nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { devstackSettings } from '@mockstagram/devstack';
import { databaseEnv, kafkaEnv, loadConfig, logEnv, migrationEnv, telemetryEnv } from '@mockstagram/shared';
import type { z } from 'zod';
import { fetcherEnv } from '@mockstagram/fetcher';
import { mockApiEnv } from '@mockstagram/mock-api';
import { resultHandlerEnv } from '@mockstagram/result-handler';
import { registryEnv, schedulerEnv } from '@mockstagram/scheduler';

function readEnvFile(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  return env;
}

const example = readEnvFile(path.join(__dirname, '..', '..', '.env.example'));

const schemas: Record<string, z.ZodObject> = {
  kafkaEnv,
  databaseEnv,
  logEnv,
  migrationEnv,
  telemetryEnv,
  mockApiEnv,
  schedulerEnv,
  registryEnv,
  fetcherEnv,
  resultHandlerEnv,
};

describe.each(Object.entries(schemas))('%s', (_name, schema) => {
  test('every variable is listed in .env.example', () => {
    const missing = Object.keys(schema.shape).filter((key) => !(key in example));
    expect(missing).toEqual([]);
  });

  test('.env.example holds the schema defaults', () => {
    expect(loadConfig(schema, example)).toEqual(loadConfig(schema, {}));
  });
});

test('the devstack settings in .env.example are the defaults', () => {
  expect(devstackSettings(example)).toEqual(devstackSettings({ HOME: process.env.HOME }));
});
