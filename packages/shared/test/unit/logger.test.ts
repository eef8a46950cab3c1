import { Writable } from 'node:stream';
import { createLogger, setLogContextProvider } from '../../src/logger';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)));
      cb();
    },
  });
  return { lines, stream };
}

describe('createLogger', () => {
  afterEach(() => setLogContextProvider(undefined));

  it('writes JSON with the service, a string level and an ISO time', () => {
    const { lines, stream } = capture();
    createLogger('fetcher', 'info', stream).info({ influencerId: 7 }, 'hello');
    expect(lines[0]).toMatchObject({ service: 'fetcher', level: 'info', influencerId: 7, msg: 'hello' });
    expect(String(lines[0].time)).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('does not carry fields from one line to the next', () => {
    const { lines, stream } = capture();
    const logger = createLogger('fetcher', 'info', stream);
    logger.info({ a: 1 }, 'one');
    logger.info({ b: 2 }, 'two');
    setLogContextProvider(() => ({ trace_id: 't' }));
    logger.info({ c: 3 }, 'three');
    logger.info('four');
    expect(lines.map(({ a, b, c }) => ({ a, b, c }))).toEqual([
      { a: 1, b: undefined, c: undefined },
      { a: undefined, b: 2, c: undefined },
      { a: undefined, b: undefined, c: 3 },
      { a: undefined, b: undefined, c: undefined },
    ]);
  });

  it('adds trace ids from the registered context provider, also to loggers created earlier', () => {
    const { lines, stream } = capture();
    const logger = createLogger('fetcher', 'debug', stream).child({ component: 'x' });
    logger.debug('before');
    setLogContextProvider(() => ({ trace_id: 'abc', span_id: 'def' }));
    logger.debug('inside');
    setLogContextProvider(() => undefined);
    logger.debug('no span');
    expect(lines.map((l) => l.trace_id)).toEqual([undefined, 'abc', undefined]);
    expect(lines[1]).toMatchObject({ span_id: 'def', component: 'x', service: 'fetcher' });
  });
});
