import {
  decodeFetchJob,
  decodeFetchResult,
  encodeFetchJob,
  encodeFetchResult,
  parseFetchResult,
  SchemaError,
  type FetchJob,
  type FetchResult,
} from '../../src/schemas';

const job: FetchJob = {
  jobId: '0b6f8d1e-6a57-4d5c-9a0e-2f0c1b7e9a11',
  influencerId: 1000042,
  scheduledFor: '2024-05-01T12:00:00.000Z',
  attempt: 1,
};

const result: FetchResult = {
  jobId: job.jobId,
  influencerId: 1000042,
  username: 'influencer1000042',
  followerCount: 12345,
  followingCount: 67,
  observedAt: '2024-05-01T12:00:01.250Z',
};

const raw = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('fetch job codec', () => {
  it('round-trips a valid job', () => {
    expect(decodeFetchJob(encodeFetchJob(job))).toEqual({ ok: true, value: job });
  });

  it('drops unknown fields', () => {
    expect(decodeFetchJob(raw({ ...job, extra: 1 }))).toEqual({ ok: true, value: job });
  });

  it('accepts date-times with an offset', () => {
    expect(decodeFetchJob(raw({ ...job, scheduledFor: '2024-05-01T14:00:00+02:00' })).ok).toBe(true);
  });

  it('rejects attempt 0 and a non-UUID jobId with readable errors', () => {
    expect(decodeFetchJob(raw({ ...job, attempt: 0, jobId: 'nope' }))).toEqual({
      ok: false,
      reason: 'invalid',
      error: 'jobId: expected a UUID, got "nope"; attempt: expected number >= 1',
    });
  });

  it('refuses to encode an invalid job', () => {
    expect(() => encodeFetchJob({ ...job, influencerId: 1.5 })).toThrow(SchemaError);
    expect(() => encodeFetchJob({ ...job, influencerId: 1.5 })).toThrow(
      'invalid FetchJob: influencerId: expected integer, got number 1.5',
    );
  });
});

describe('fetch result codec', () => {
  it('round-trips a valid result', () => {
    expect(decodeFetchResult(encodeFetchResult(result))).toEqual({ ok: true, value: result });
  });

  it('says not-json for garbage, an empty value and a null value', () => {
    const garbage = decodeFetchResult(Buffer.from('{"jobId": oops'));
    expect(garbage).toMatchObject({ ok: false, reason: 'not-json' });
    expect(!garbage.ok && garbage.error).toContain('{"jobId": oops');
    expect(decodeFetchResult(Buffer.alloc(0))).toEqual({
      ok: false,
      reason: 'not-json',
      error: 'message value is empty',
    });
    expect(decodeFetchResult(null)).toEqual({ ok: false, reason: 'not-json', error: 'message has no value (null)' });
  });

  it('rejects negative counts', () => {
    expect(decodeFetchResult(raw({ ...result, followerCount: -1 }))).toEqual({
      ok: false,
      reason: 'invalid',
      error: 'followerCount: expected number >= 0',
    });
  });

  it('rejects wrong types', () => {
    expect(decodeFetchResult(raw({ ...result, followerCount: '12', influencerId: 0, username: '' }))).toEqual({
      ok: false,
      reason: 'invalid',
      error:
        'influencerId: expected number > 0; username: expected a non-empty string; followerCount: expected number, got string "12"',
    });
    expect(decodeFetchResult(raw({ ...result, observedAt: 'yesterday' }))).toMatchObject({
      error: 'observedAt: expected an ISO 8601 date-time, got "yesterday"',
    });
  });

  it('names missing fields', () => {
    const { username: _u, observedAt: _o, ...rest } = result;
    expect(decodeFetchResult(raw(rest))).toEqual({
      ok: false,
      reason: 'invalid',
      error: 'username: required; observedAt: required',
    });
  });

  it('rejects JSON that is not an object', () => {
    expect(decodeFetchResult(raw([1, 2]))).toEqual({
      ok: false,
      reason: 'invalid',
      error: 'value: expected object, got array',
    });
    expect(decodeFetchResult(Buffer.from('null'))).toEqual({
      ok: false,
      reason: 'invalid',
      error: 'value: expected object, got null',
    });
  });

  it('validates plain objects with parseFetchResult', () => {
    expect(parseFetchResult(result)).toEqual({ ok: true, value: result });
    expect(parseFetchResult({ ...result, followingCount: 2.5 })).toMatchObject({ ok: false, reason: 'invalid' });
  });
});
