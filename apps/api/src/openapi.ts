/**
 * The OpenAPI 3.1 document served at /api/v1/openapi.json, generated from the zod schemas the
 * routes validate and answer with (src/schemas.ts): response bodies as components, query
 * parameters from the query schemas' fields. OpenAPI 3.1's schema dialect is JSON Schema
 * 2020-12, which is what `z.toJSONSchema` emits.
 *
 * @module
 */
import { z } from 'zod';
import { version } from '../package.json';
import {
  errorBody,
  influencerBody,
  rankingsBody,
  rankingsQuery,
  seriesBody,
  seriesQuery,
  statsBody,
  suspicionBody,
  suspiciousBody,
  suspiciousQuery,
} from './schemas';

type Json = Record<string, unknown>;

let cached: Json | undefined;

export function openApiDocument(): Json {
  cached ??= build();
  return cached;
}

function build(): Json {
  const registry = z.registry<{ id: string }>();
  for (const schema of [
    errorBody,
    suspicionBody,
    influencerBody,
    seriesBody,
    statsBody,
    rankingsBody,
    suspiciousBody,
  ]) {
    registry.add(schema, { id: z.globalRegistry.get(schema)!.id as string });
  }
  const { schemas } = z.toJSONSchema(registry, {
    target: 'draft-2020-12',
    io: 'output',
    uri: (id) => `#/components/schemas/${id}`,
  });
  for (const s of Object.values(schemas)) delete (s as Json).$schema;

  const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
  const json = (id: string, description: string) => ({
    description,
    content: { 'application/json': { schema: ref(id) } },
  });
  const errors = {
    '400': json('Error', 'invalid input: `message` and `issues` say which parameter and why'),
    '503': json('Error', 'the database is not reachable'),
  };
  const idParameter = {
    name: 'id',
    in: 'path',
    required: true,
    description: 'the Mockstagram user id',
    schema: { type: 'string', pattern: '^[1-9][0-9]{0,15}$' },
  };

  return {
    openapi: '3.1.0',
    info: {
      title: 'Mockstagram read API',
      version,
      description:
        'Latest counts, rank, series, stats, rankings and suspicious influencers from TimescaleDB. ' +
        'Rank and average leave suspicious influencers out and come from a snapshot at most one refresh (1 minute by default) old: see rankedAt / computedAt.',
    },
    servers: [{ url: '/' }],
    paths: {
      '/api/v1/influencers/{id}': {
        get: {
          summary: 'An influencer: latest counts, ratio, rank, whether suspicious, last seen',
          parameters: [idParameter],
          responses: {
            '200': json('Influencer', 'the influencer'),
            ...errors,
            '404': json('Error', 'nothing stored for this id'),
          },
        },
      },
      '/api/v1/influencers/{id}/series': {
        get: {
          summary: 'Followers, following and ratio over time',
          description:
            'raw and 1m serve ranges up to 7 days, 1h up to 400 days, 1d up to 3660 days; a finer resolution is refused with the ones to use instead.',
          parameters: [idParameter, ...queryParameters(seriesQuery)],
          responses: {
            '200': json('Series', 'the series, oldest first'),
            ...errors,
            '404': json('Error', 'nothing stored for this id'),
          },
        },
      },
      '/api/v1/stats': {
        get: {
          summary:
            'Average followers of the influencers not suspicious; how many tracked and suspicious; the newest sample',
          responses: { '200': json('Stats', 'the figures'), '400': errors['400'], '503': errors['503'] },
        },
      },
      '/api/v1/rankings': {
        get: {
          summary: 'Leaderboard by followers (the rank snapshot) or by growth over a window (live); cursor pagination',
          parameters: queryParameters(rankingsQuery),
          responses: { '200': json('Rankings', 'one page'), ...errors },
        },
      },
      '/api/v1/suspicious': {
        get: {
          summary: 'Influencers flagged as suspicious, most suspicious first; cursor pagination',
          parameters: queryParameters(suspiciousQuery),
          responses: { '200': json('SuspiciousList', 'one page'), ...errors },
        },
      },
      '/api/v1/openapi.json': {
        get: {
          summary: 'This document',
          responses: { '200': { description: 'OpenAPI 3.1', content: { 'application/json': {} } } },
        },
      },
    },
    components: { schemas },
  };
}

function queryParameters(schema: z.ZodObject): Json[] {
  return Object.entries(schema.shape).map(([name, field]) => {
    const jsonSchema = z.toJSONSchema(field as z.ZodType, { target: 'draft-2020-12', io: 'input' }) as Json;
    delete jsonSchema.$schema;
    const description = jsonSchema.description;
    delete jsonSchema.description;
    return { name, in: 'query', required: false, ...(description ? { description } : {}), schema: jsonSchema };
  });
}
