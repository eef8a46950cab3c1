/**
 * docker-compose.yml loaded by compose-go, the library `docker compose` uses to read a compose file
 * (interpolation, schema, semantic checks such as unknown services in depends_on, normalisation),
 * through the small Go program in ./compose-go. This is what `docker compose config` would say,
 * without Docker. Needs `go` (the first run downloads the pinned modules from the Go module proxy,
 * ~25 s); without it the test fails saying so (.ci/run has it on this kind of machine).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadComposeRaw, PASSWORD_VARIABLES, readEnvExample, ROOT, TEST_PASSWORDS } from './support';

function requireGo(): void {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
  } catch {
    throw new Error(
      'this test needs the Go toolchain (`go` on PATH) to build the compose-go checker; install Go 1.22+',
    );
  }
}

describe('compose-go (what `docker compose config` runs)', () => {
  const binary = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'compose-go-check-')), 'compose-go-check');
  const load = (...args: string[]): Record<string, unknown> =>
    JSON.parse(
      execFileSync(binary, [path.join(ROOT, 'docker-compose.yml'), ...args], { encoding: 'utf8', cwd: ROOT }),
    ) as Record<string, unknown>;

  beforeAll(() => {
    requireGo();
    execFileSync('go', ['build', '-o', binary, '.'], {
      cwd: path.join(__dirname, 'compose-go'),
      env: { ...process.env, GOFLAGS: '-mod=readonly' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  }, 300_000);

  /** An env file with these lines, for the checker. */
  const envFile = (lines: Record<string, string>): string => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'compose-go-env-')), '.env');
    fs.writeFileSync(
      file,
      Object.entries(lines)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(''),
    );
    return file;
  };

  test('refuses to load without the passwords, naming the one missing (they have no default)', () => {
    expect(() => execFileSync(binary, [path.join(ROOT, 'docker-compose.yml')], { stdio: 'pipe', cwd: ROOT })).toThrow(
      /required variable \w*PASSWORD is missing a value: set \w*PASSWORD in \.env \(see \.env\.example\)/,
    );
    const { POSTGRES_READER_PASSWORD: _left, ...others } = TEST_PASSWORDS;
    expect(() =>
      execFileSync(binary, [path.join(ROOT, 'docker-compose.yml'), envFile(others)], { stdio: 'pipe', cwd: ROOT }),
    ).toThrow(/required variable POSTGRES_READER_PASSWORD is missing a value/);
  });

  test('loads the file with only the passwords set', () => {
    const project = load(envFile(TEST_PASSWORDS));
    expect(project.name).toBe('mockstagram');
    expect(Object.keys(project.services as object).sort()).toEqual(Object.keys(loadComposeRaw().services).sort());
  });

  test('with a copy of .env.example as .env the stack is the same as with only its passwords (its other values are the defaults; wiring is fixed)', () => {
    const example = readEnvExample();
    const passwords = Object.fromEntries(PASSWORD_VARIABLES.map((name) => [name, example[name]]));
    expect(load(path.join(ROOT, '.env.example'))).toEqual(load(envFile(passwords)));
  });

  test('a broken file is refused (the check can fail)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-go-broken-'));
    const file = path.join(dir, 'docker-compose.yml');
    fs.writeFileSync(file, 'services:\n  a:\n    image: busybox:1.36\n    depends_on: [missing]\n');
    expect(() => execFileSync(binary, [file], { stdio: 'pipe' })).toThrow(/missing/);
  });
});
