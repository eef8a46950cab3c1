import { ConfigError } from '@mockstagram/shared';
import { FETCHER_RENAMED, fetcherEnv, loadFetcherConfig } from '../../src/config';

describe('the fetcher config', () => {
  let stderr: jest.SpyInstance;
  beforeEach(() => {
    stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(() => stderr.mockRestore());

  it('maps every old FETCH_* name onto a FETCHER_* variable of its schema', () => {
    for (const [oldName, newName] of Object.entries(FETCHER_RENAMED)) {
      expect(oldName).toMatch(/^FETCH_/);
      expect(newName).toBe(oldName.replace(/^FETCH_/, 'FETCHER_'));
      expect(Object.keys(fetcherEnv.shape)).toContain(newName);
      expect(Object.keys(fetcherEnv.shape)).not.toContain(oldName);
    }
    expect(Object.keys(fetcherEnv.shape).filter((k) => k.startsWith('FETCH_'))).toEqual([]);
  });

  it('reads an old name when the new one is unset, with one deprecation line on stderr', () => {
    const config = loadFetcherConfig({ FETCH_CONCURRENCY: '8', FETCH_CHUNK_SIZE: '50' });
    expect([config.FETCHER_CONCURRENCY, config.FETCHER_CHUNK_SIZE]).toEqual([8, 50]);
    expect(stderr).toHaveBeenCalledTimes(1);
    const line = String(stderr.mock.calls[0][0]);
    expect(line).toContain('FETCH_CONCURRENCY → FETCHER_CONCURRENCY');
    expect(line).toContain('FETCH_CHUNK_SIZE → FETCHER_CHUNK_SIZE');
  });

  it('refuses the old and the new name set to different values', () => {
    expect(() => loadFetcherConfig({ FETCH_TIMEOUT_MS: '100', FETCHER_TIMEOUT_MS: '200' })).toThrow(ConfigError);
  });

  it('without old names, writes nothing and takes the defaults', () => {
    expect(loadFetcherConfig({})).toEqual(fetcherEnv.parse({}));
    expect(stderr).not.toHaveBeenCalled();
  });
});
