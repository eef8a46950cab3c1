import path from 'node:path';

/** Repository root: packages/devstack/src → ../../.. */
export const repoRoot = path.resolve(__dirname, '..', '..', '..');

/** Where the devstack keeps its data, logs and pid files. Git-ignored. Moved with DEVSTACK_DIR. */
export function devstackDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.DEVSTACK_DIR || path.join(repoRoot, '.devstack'));
}

/** Cache for things resolved from registries (Kafka's classpath); outside the work tree. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || path.join(env.HOME || '/tmp', '.cache');
  return path.resolve(env.DEVSTACK_CACHE_DIR || path.join(base, 'mockstagram-devstack'));
}
