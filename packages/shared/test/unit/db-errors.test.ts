import { classifyDbError, isTransientDbError } from '../../src/db';

const pgError = (code: string) => Object.assign(new Error('x'), { code });

describe('classifyDbError', () => {
  it('calls connection, resource and concurrency failures transient', () => {
    for (const code of [
      '08006',
      '08001',
      '57P01',
      '57P03',
      '53300',
      '58030',
      '40001',
      '40P01',
      'ECONNREFUSED',
      'EPIPE',
    ])
      expect([code, classifyDbError(pgError(code))]).toEqual([code, 'transient']);
    expect(classifyDbError(new Error('Connection terminated unexpectedly'))).toBe('transient');
    expect(classifyDbError(new Error('timeout exceeded when trying to connect'))).toBe('transient');
  });

  it('tells a stored key (23505) from other refused values (classes 22 and 23)', () => {
    expect(classifyDbError(pgError('23505'))).toBe('duplicate');
    for (const code of ['22P02', '22007', '22021', '23502', '23503', '23514'])
      expect([code, classifyDbError(pgError(code))]).toEqual([code, 'data']);
  });

  it('calls everything else permanent', () => {
    for (const code of ['42P01', '42601', '28P01', '3F000', '57014'])
      expect([code, classifyDbError(pgError(code))]).toEqual([code, 'permanent']);
    expect(classifyDbError(new Error('something else'))).toBe('permanent');
    expect(classifyDbError('nope')).toBe('permanent');
    expect(classifyDbError(undefined)).toBe('permanent');
  });

  it('isTransientDbError is its transient class', () => {
    expect(isTransientDbError(pgError('08006'))).toBe(true);
    expect(isTransientDbError(pgError('23505'))).toBe(false);
    expect(isTransientDbError(pgError('42P01'))).toBe(false);
  });
});
