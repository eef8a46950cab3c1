import { dlqMessage, DLQ_ERROR_MAX_LENGTH, readDlqHeaders } from '../../src/dlq';

describe('dlqMessage', () => {
  const source = {
    topic: 'mockstagram.fetch-results',
    partition: 3,
    offset: '1234',
    key: Buffer.from('1000042'),
    value: Buffer.from('{"not":"valid"}'),
    headers: { traceparent: Buffer.from('00-aaaa-bbbb-01'), 'x-dlq-reason': 'stale' },
  };

  it('keeps key, value and original headers and adds the x-dlq-* headers', () => {
    const m = dlqMessage({
      source,
      stage: 'result-handler',
      reason: 'invalid',
      error: 'username: required',
      attempts: 1,
    });
    expect(m.key).toBe(source.key);
    expect(m.value).toBe(source.value);
    expect(m.headers).toEqual({
      traceparent: source.headers.traceparent,
      'x-dlq-reason': 'invalid',
      'x-dlq-stage': 'result-handler',
      'x-dlq-attempts': '1',
      'x-dlq-source-topic': 'mockstagram.fetch-results',
      'x-dlq-source-partition': '3',
      'x-dlq-source-offset': '1234',
      'x-dlq-error': 'username: required',
    });
  });

  it('cuts very long errors', () => {
    const m = dlqMessage({
      source,
      stage: 'fetcher',
      reason: 'retries-exhausted',
      error: 'x'.repeat(5000),
      attempts: 5,
    });
    const error = String(m.headers!['x-dlq-error']);
    expect(error).toHaveLength(DLQ_ERROR_MAX_LENGTH);
    expect(error.endsWith('...')).toBe(true);
  });

  it('reads the headers back', () => {
    const m = dlqMessage({
      source: { ...source, headers: undefined },
      stage: 'fetcher',
      reason: 'not-found',
      error: '404',
      attempts: 2,
    });
    const asConsumed = Object.fromEntries(Object.entries(m.headers!).map(([k, v]) => [k, Buffer.from(String(v))]));
    expect(readDlqHeaders(asConsumed)).toEqual({
      reason: 'not-found',
      stage: 'fetcher',
      attempts: 2,
      sourceTopic: 'mockstagram.fetch-results',
      sourcePartition: 3,
      sourceOffset: '1234',
      error: '404',
    });
  });
});
