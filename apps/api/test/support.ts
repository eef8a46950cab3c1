/**
 * Helpers for the api's tests: a migrated schema with a history written through the pipeline's
 * storage path, the api in-process on a free port, and requests whose bodies are checked against
 * the OpenAPI document the api serves (ajv, JSON Schema 2020-12).
 */
import http from 'node:http';
import Ajv2020 from 'ajv/dist/2020';
import { createLogger, createPool, createRegistry, type Pool } from '@mockstagram/shared';
import { migrate } from '@mockstagram/shared/migrate';
import type { ServiceHttp } from '@mockstagram/shared/http';
import { freshSchema, type TestSchema } from '@mockstagram/testkit';
import { startApiServer } from '../src/server';

export interface ApiEnv {
  db: TestSchema;
  pool: Pool;
  http: ServiceHttp;
  base: string;
  close: () => Promise<void>;
}

export async function startApiEnv(prefix: string): Promise<ApiEnv> {
  const db = await freshSchema(prefix);
  const pool = createPool({ connectionString: db.url, max: 4 });
  await migrate({ pool });
  const http = await startApiServer({
    db: pool,
    port: 0,
    host: '127.0.0.1',
    registry: createRegistry('api'),
    logger: createLogger('api', 'silent'),
  });
  return {
    db,
    pool,
    http,
    base: `http://127.0.0.1:${http.port}`,
    close: async () => {
      await http.close();
      await pool.end();
      await db.drop();
    },
  };
}

export interface Answer<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

type Json = Record<string, any>;

/** Validates answers against the OpenAPI document's response schema for their path and status. */
export class ContractChecker {
  private readonly ajv = new Ajv2020({ allErrors: true, strict: true });
  private readonly templates: Array<{ pattern: RegExp; template: string }>;
  /** (template, status) pairs seen, to check that every documented path was exercised. */
  readonly seen = new Set<string>();

  constructor(readonly doc: Json) {
    this.ajv.addFormat('date-time', {
      type: 'string',
      validate: (s: string) =>
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(s) && !Number.isNaN(Date.parse(s)),
    });
    this.ajv.addKeyword('components'); // the document's section that holds the schemas $ref points into
    this.ajv.addSchema({ $id: 'openapi.json', components: doc.components });
    this.templates = Object.keys(doc.paths).map((template) => ({
      template,
      pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
    }));
  }

  check(path: string, answer: Answer): void {
    const pathname = new URL(path, 'http://x').pathname;
    const match = this.templates.find((t) => t.pattern.test(pathname));
    if (!match) throw new Error(`${pathname} is not in the OpenAPI document`);
    const response = this.doc.paths[match.template].get.responses[String(answer.status)];
    if (!response)
      throw new Error(
        `${match.template} does not document status ${answer.status} (body ${JSON.stringify(answer.body)})`,
      );
    this.seen.add(`${match.template} ${answer.status}`);
    const ref: string | undefined = response.content?.['application/json']?.schema?.$ref;
    if (!ref) return;
    const validate = this.ajv.getSchema(`openapi.json${ref}`);
    if (!validate) throw new Error(`no schema ${ref}`);
    if (!validate(answer.body)) {
      throw new Error(
        `${path} ${answer.status}: body does not match ${ref}: ${this.ajv.errorsText(validate.errors)}\n${JSON.stringify(answer.body).slice(0, 500)}`,
      );
    }
  }
}

export async function getJson(base: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(base + path, { headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/**
 * The status of a GET sent with node:http, headers exactly as given. (fetch adds
 * `Cache-Control: no-cache` to a request with If-None-Match, which tells a server not to answer 304.)
 */
export function rawStatus(base: string, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(base + path, { headers }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      })
      .on('error', reject);
  });
}
