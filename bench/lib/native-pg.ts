/**
 * A throwaway cluster of Debian's native PostgreSQL (apt-get install -y postgresql): initdb in a
 * temporary directory, started on a free port as the unprivileged `postgres` user (or `nobody`),
 * stopped and deleted afterwards. Default settings (fsync on, shared_buffers 128 MB).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, has, run, shellLine } from './proc';

export const NATIVE_PG_INSTALL =
  'apt-get install -y postgresql   (Debian 12: PostgreSQL 15 in /usr/lib/postgresql/15/bin)';

export interface NativePg {
  url: string;
  version: string;
  commands: string[];
  stop: () => Promise<void>;
}

function binDir(): string {
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base)
    ? fs
        .readdirSync(base)
        .filter((v) => fs.existsSync(path.join(base, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!versions[0]) throw new Error(`native PostgreSQL is not installed; install it with: ${NATIVE_PG_INSTALL}`);
  return path.join(base, versions[0], 'bin');
}

export async function startNativePg(): Promise<NativePg> {
  const bin = binDir();
  const isRoot = process.getuid?.() === 0;
  // initdb refuses to run as root: run the server as an unprivileged user.
  const user = isRoot ? (has('id') && (await run(['id', 'postgres'])).code === 0 ? 'postgres' : 'nobody') : undefined;
  const as = (cmd: string[]) => (user ? ['runuser', '-u', user, '--', ...cmd] : cmd);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-native-pg-'));
  const data = path.join(dir, 'data');
  if (user) {
    const owner = await run(['chown', user, dir]);
    if (owner.code !== 0) throw new Error(`chown ${user} ${dir}: ${owner.stderr}`);
  }
  const port = await freePort();
  const commands: string[] = [];
  const step = async (cmd: string[]) => {
    commands.push(shellLine(cmd).replaceAll(dir, '$TMPDIR'));
    const r = await run(cmd, { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`${shellLine(cmd)} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
    return r;
  };
  try {
    await step(as([path.join(bin, 'initdb'), '-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']));
    await step(
      as([
        path.join(bin, 'pg_ctl'),
        '-D',
        data,
        '-l',
        path.join(dir, 'server.log'),
        '-w',
        '-t',
        '60',
        '-o',
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`,
        'start',
      ]),
    );
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const version = (await run([path.join(bin, 'postgres'), '--version'])).stdout.trim();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    version,
    commands,
    stop: async () => {
      await run(as([path.join(bin, 'pg_ctl'), '-D', data, '-m', 'fast', '-w', 'stop']), { timeoutMs: 60_000 }).catch(
        () => undefined,
      );
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
