/**
 * The log path, file by file: the app containers' fluentd logging driver → the fluentd service
 * (volumes/fluentd/fluent.conf: forward input, JSON line parsed, Elasticsearch output with daily
 * mockstagram-* indices) → the index template (volumes/fluentd/index-template.json) → the Kibana
 * data view (volumes/kibana/data-view.json). Each hand-off must name what the next one expects.
 */
import { Writable } from 'node:stream';
import { createLogger } from '@mockstagram/shared';
import {
  APPS,
  buildArgs,
  dependsOn,
  isPinned,
  loadCompose,
  parseDockerfile,
  publishedPorts,
  read,
} from '../../compose/support';

const compose = loadCompose();

// ---------------------------------------------------------------------------------------------
// A small reader for Fluentd's config format: <directive arg> ... </directive>, `key value` lines.

interface Directive {
  name: string;
  arg: string;
  params: Record<string, string>;
  children: Directive[];
}

function parseFluentConf(text: string): Directive[] {
  const root: Directive = { name: 'root', arg: '', params: {}, children: [] };
  const stack = [root];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/(^|\s)#.*$/, '').trim();
    if (!line) continue;
    const open = /^<([a-zA-Z_@]+)\s*([^>]*)>$/.exec(line);
    const close = /^<\/([a-zA-Z_@]+)>$/.exec(line);
    if (open) {
      const d: Directive = { name: open[1], arg: open[2].trim(), params: {}, children: [] };
      stack[stack.length - 1].children.push(d);
      stack.push(d);
    } else if (close) {
      const d = stack.pop()!;
      if (d.name !== close[1]) throw new Error(`</${close[1]}> closes <${d.name}>`);
    } else {
      const m = /^(\S+)\s*(.*)$/.exec(line)!;
      stack[stack.length - 1].params[m[1]] = m[2].replace(/^"(.*)"$/, '$1');
    }
  }
  if (stack.length !== 1) throw new Error(`<${stack[stack.length - 1].name}> is not closed`);
  return root.children;
}

/** Fluentd's tag patterns: `*` is one part, `**` zero or more parts. */
function tagMatches(pattern: string, tag: string): boolean {
  const re = pattern
    .split('.')
    .map((part, i) => {
      if (part === '**') return i === 0 ? '(?:[^.]+(?:\\.[^.]+)*)?' : '(?:\\.[^.]+)*';
      const literal = part.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^.]+');
      return i === 0 ? literal : `\\.${literal}`;
    })
    .join('');
  return new RegExp(`^${re}$`).test(tag);
}

const conf = parseFluentConf(read('volumes/fluentd/fluent.conf'));
const sources = conf.filter((d) => d.name === 'source');
const filters = conf.filter((d) => d.name === 'filter');
const matches = conf.filter((d) => d.name === 'match');

const logging = compose.services['mock-api'].logging!;
/** A tag as Docker makes it from `mockstagram.{{.Name}}`, e.g. for the first fetcher replica. */
const sampleTag = logging.options!.tag.replace('{{.Name}}', 'mockstagram-fetcher-1');
/** The first <match> whose pattern takes the tag: Fluentd routes an event there. */
const routeOf = (tag: string): Directive | undefined =>
  matches.find((m) => m.arg.split(/\s+/).some((p) => tagMatches(p, tag)));
const esOutput = routeOf(sampleTag);

const template = JSON.parse(read('volumes/fluentd/index-template.json')) as {
  index_patterns: string[];
  template: { settings: Record<string, unknown>; mappings: { properties: Record<string, { type?: string }> } };
};
const dataView = JSON.parse(read('volumes/kibana/data-view.json')) as {
  override?: boolean;
  data_view: { id?: string; title: string; timeFieldName: string };
};

test('the tag matcher follows Fluentd', () => {
  expect(tagMatches('mockstagram.**', 'mockstagram.mockstagram-fetcher-1')).toBe(true);
  expect(tagMatches('mockstagram.**', 'mockstagram')).toBe(true);
  expect(tagMatches('mockstagram.*', 'mockstagram.a.b')).toBe(false);
  expect(tagMatches('**', 'anything.at.all')).toBe(true);
  expect(tagMatches('mockstagram.**', 'other.x')).toBe(false);
});

describe('app containers → fluentd', () => {
  test.each([...APPS, 'migrate', 'register'])(
    '%s logs through the fluentd driver, asynchronously, tagged mockstagram.<container>',
    (name) => {
      const l = compose.services[name].logging!;
      expect(l.driver).toBe('fluentd');
      expect(l.options).toEqual(
        expect.objectContaining({
          'fluentd-address': 'localhost:24224',
          'fluentd-async': 'true',
          tag: 'mockstagram.{{.Name}}',
        }),
      );
    },
  );

  test('fluentd publishes the driver address on the host and its forward input listens there', () => {
    const port = Number(logging.options!['fluentd-address'].split(':')[1]);
    expect(publishedPorts(compose.services.fluentd)).toContainEqual(
      expect.objectContaining({ published: port, target: port, protocol: 'tcp' }),
    );
    const forward = sources.find((s) => s.params['@type'] === 'forward');
    expect(Number(forward?.params.port)).toBe(port);
    expect(forward?.params.bind).toBe('0.0.0.0');
  });

  test('the fluentd healthcheck asks the monitor_agent input on its port', () => {
    const monitor = sources.find((s) => s.params['@type'] === 'monitor_agent');
    expect(monitor).toBeDefined();
    expect(JSON.stringify(compose.services.fluentd.healthcheck!.test)).toContain(
      `:${monitor!.params.port}/api/plugins.json`,
    );
  });

  test('a one-shot that logs through fluentd starts only once fluentd is healthy (Docker drops what an exited container had not delivered)', () => {
    const oneShots = Object.entries(compose.services).filter(
      ([, svc]) => svc.restart === 'no' && svc.logging?.driver === 'fluentd',
    );
    expect(oneShots.map(([name]) => name).sort()).toEqual(['migrate', 'register']);
    for (const [name, svc] of oneShots)
      expect({ name, fluentd: dependsOn(svc).fluentd }).toEqual({ name, fluentd: 'service_healthy' });
  });

  test("the gem cache is emptied where gems go: GEM_HOME, /usr/local/bundle in the fluentd image's ruby:3.2-slim base", () => {
    const run = parseDockerfile(read('volumes/fluentd/Dockerfile'))
      .stages.flatMap((s) => s.instructions)
      .filter((i) => i.keyword === 'RUN');
    const removals = run
      .flatMap((i) => i.args.split('&&'))
      .filter((c) => /\brm -rf\b/.test(c))
      .join(' ');
    // gem env gemdir prints GEM_HOME
    expect(removals).toMatch(/"\$\(gem env gemdir\)"\/cache\/\*\.gem|\/usr\/local\/bundle\/cache\/\*\.gem/);
    expect(removals).not.toMatch(/\/usr\/lib\/ruby\/gems/);
  });

  test('fluentd is built from volumes/fluentd on a pinned image, with pinned gems, and reads the mounted fluent.conf', () => {
    expect(buildArgs(compose.services.fluentd)).toEqual({
      context: './volumes/fluentd',
      dockerfile: 'Dockerfile',
      args: {},
    });
    const dockerfile = parseDockerfile(read('volumes/fluentd/Dockerfile'));
    for (const st of dockerfile.stages) expect(isPinned(st.from)).toBe(true);
    expect(dockerfile.stages[0].from).toMatch(/^fluent\/fluentd:v1\.\d+\.\d+-debian-/);
    const installs = dockerfile.stages
      .flatMap((s) => s.instructions)
      .filter((i) => i.keyword === 'RUN')
      .flatMap((i) => i.args.split('&&'));
    const gems = installs.filter((c) => /\bgem install\b/.test(c));
    expect(gems.length).toBeGreaterThanOrEqual(2);
    for (const g of gems) expect(g).toMatch(/ -v \d+\.\d+\.\d+\b/);
    expect(gems.join(' ')).toMatch(/fluent-plugin-elasticsearch -v 5\./);
    expect(gems.join(' ')).toMatch(/elasticsearch -v 8\./); // the 9.x client does not talk to Elasticsearch 8
    expect(compose.services.fluentd.volumes).toContain('./volumes/fluentd/fluent.conf:/fluentd/etc/fluent.conf:ro');
  });
});

/**
 * What Fluentd's json parser (fluentd 1.18 lib/fluent/plugin/parser_json.rb with parser.rb) does to
 * a record: its time key is `time` unless `time_key` says otherwise, and it deletes that key from
 * the record unless `keep_time_key true`.
 */
function fluentdJsonParse(line: string, params: Record<string, string>): Record<string, unknown> {
  const record = JSON.parse(line) as Record<string, unknown>;
  const timeKey = params.time_key ?? 'time';
  if (params.keep_time_key !== 'true') delete record[timeKey];
  return record;
}

/** One line as the apps' logger writes it. */
function pinoLine(): string {
  let line = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      line += String(chunk);
      cb();
    },
  });
  createLogger('fetcher', 'info', sink).info({ trace_id: 'a'.repeat(32), span_id: 'b'.repeat(16) }, 'job done');
  return line.trim();
}

describe('fluentd → Elasticsearch', () => {
  test("every field of the apps' JSON lines survives the parse, pino's `time` included", () => {
    const parser = filters.find(
      (f) => f.params['@type'] === 'parser' && f.arg.split(/\s+/).some((p) => tagMatches(p, sampleTag)),
    )!;
    const parse = parser.children.find((c) => c.name === 'parse')!;
    const line = pinoLine();
    const written = JSON.parse(line) as Record<string, unknown>;
    expect(Object.keys(written)).toEqual(
      expect.arrayContaining(['level', 'time', 'service', 'msg', 'trace_id', 'span_id']),
    );
    expect(fluentdJsonParse(line, parse.params)).toEqual(written);
    // the event time stays Docker's read time, so Elasticsearch's @timestamp is not pino's milliseconds read as seconds
    expect(parser.params.reserve_time).toBe('true');
  });

  test("fluent.conf's comments say what the parser does with `time`", () => {
    const text = read('volumes/fluentd/fluent.conf');
    expect(text).not.toMatch(/pino's own `time` stays a field/);
    expect(text).toMatch(/keep_time_key true/);
  });

  test('the JSON line an app writes is parsed, keeping the container fields and unparsable lines', () => {
    const parser = filters.find(
      (f) => f.params['@type'] === 'parser' && f.arg.split(/\s+/).some((p) => tagMatches(p, sampleTag)),
    );
    expect(parser).toBeDefined();
    expect(parser!.params).toEqual(
      expect.objectContaining({ key_name: 'log', reserve_data: 'true', emit_invalid_record_to_error: 'false' }),
    );
    expect(parser!.children.find((c) => c.name === 'parse')?.params['@type']).toBe('json');
  });

  test('app events go to the Elasticsearch service, daily indices with the mockstagram prefix', () => {
    expect(esOutput?.params['@type']).toBe('elasticsearch');
    const host = esOutput!.params.host;
    const port = Number(esOutput!.params.port);
    expect(compose.services).toHaveProperty([host]);
    expect(compose.services[host].image).toMatch(/elasticsearch:8\./);
    expect(publishedPorts(compose.services[host]).map((p) => p.target)).toContain(port);
    expect(esOutput!.params).toEqual(
      expect.objectContaining({
        logstash_format: 'true',
        logstash_prefix: 'mockstagram',
        logstash_dateformat: '%Y.%m.%d',
        suppress_type_name: 'true',
      }),
    );
  });

  test('the output buffers on disk, in the fluentd volume, and keeps retrying while Elasticsearch is away', () => {
    const buffer = esOutput!.children.find((c) => c.name === 'buffer')!;
    expect(buffer.params['@type']).toBe('file');
    expect(buffer.params.path).toMatch(/^\/fluentd\/log\//);
    expect(compose.services.fluentd.volumes).toContain('fluentd-buffer:/fluentd/log');
    expect(buffer.params.retry_forever).toBe('true');
  });
});

describe('Elasticsearch index template and Kibana data view', () => {
  const indexPattern = `${esOutput?.params.logstash_prefix}-*`;

  test('the template covers the indices fluentd writes, with no replicas on one node', () => {
    expect(template.index_patterns).toEqual([indexPattern]);
    expect(template.template.settings.number_of_replicas).toBe(0);
  });

  test('trace_id, span_id, service and level are keywords (exact search and aggregation); @timestamp a date', () => {
    const props = template.template.mappings.properties;
    for (const field of ['trace_id', 'span_id', 'service', 'level'])
      expect([field, props[field]?.type]).toEqual([field, 'keyword']);
    expect(props['@timestamp']?.type).toBe('date');
  });

  test('elasticsearch-setup PUTs the template file it mounts, before fluentd starts', () => {
    const setup = compose.services['elasticsearch-setup'];
    const command = ([] as string[]).concat(setup.command ?? []);
    expect(command).toEqual(
      expect.arrayContaining([
        'PUT',
        'http://elasticsearch:9200/_index_template/mockstagram',
        '@/setup/index-template.json',
      ]),
    );
    expect(setup.volumes).toContain('./volumes/fluentd/index-template.json:/setup/index-template.json:ro');
    expect(isPinned(setup.image!)).toBe(true);
    expect(compose.services.fluentd.depends_on).toEqual({
      'elasticsearch-setup': { condition: 'service_completed_successfully' },
    });
  });

  test('the data view is mockstagram-* on @timestamp, and re-creating it is harmless', () => {
    expect(dataView.data_view.title).toBe(indexPattern);
    expect(dataView.data_view.timeFieldName).toBe('@timestamp');
    expect(dataView.override).toBe(true);
    expect(dataView.data_view.id).toBeDefined();
  });

  test('kibana-setup POSTs the data view file it mounts to the Kibana data views API', () => {
    const setup = compose.services['kibana-setup'];
    const command = ([] as string[]).concat(setup.command ?? []);
    expect(command).toEqual(
      expect.arrayContaining([
        'POST',
        'http://kibana:5601/api/data_views/data_view',
        'kbn-xsrf: true',
        '@/setup/data-view.json',
      ]),
    );
    expect(setup.volumes).toContain('./volumes/kibana/data-view.json:/setup/data-view.json:ro');
    expect(publishedPorts(compose.services.kibana).map((p) => p.target)).toContain(5601);
  });

  test('Kibana and Elasticsearch run the same version', () => {
    const version = (image: string) => image.split(':').pop();
    expect(version(compose.services.kibana.image!)).toBe(version(compose.services.elasticsearch.image!));
  });
});
