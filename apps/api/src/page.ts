/**
 * The page at `/`: `index.html` and the bundle `page.js` (src/page/app.ts with uPlot, bundled by
 * `yarn build` into dist/public). Run from source (`yarn dev`) with no bundle yet, the bundle is
 * built on first request with the same esbuild settings (scripts/build.ts `buildPage`).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Express } from 'express';

/** dist/public beside the built main.js, or apps/api/dist/public when run from src. */
export const PUBLIC_DIR =
  path.basename(__dirname) === 'dist'
    ? path.join(__dirname, 'public')
    : path.resolve(__dirname, '..', 'dist', 'public');
const HTML = path.resolve(__dirname, path.basename(__dirname) === 'dist' ? 'public' : 'page', 'index.html');

export function pageRoutes(app: Express): void {
  app.get('/', (_req, res) => {
    res.set('Cache-Control', 'no-cache');
    res.type('html').send(fs.readFileSync(HTML, 'utf8'));
  });
  app.get(['/page.js', '/page.css'], async (req, res, next) => {
    try {
      const file = path.join(PUBLIC_DIR, path.basename(req.path));
      if (!fs.existsSync(file)) await buildOnDemand();
      res.set('Cache-Control', 'no-cache');
      res.sendFile(file);
    } catch (err) {
      next(err);
    }
  });
}

let building: Promise<void> | undefined;

async function buildOnDemand(): Promise<void> {
  building ??= (async () => {
    // Only reached from source, where the repo's scripts and esbuild are present.
    const buildScript = path.resolve(__dirname, '..', '..', '..', 'scripts', 'build');
    // A runtime require of a path the bundler cannot see (the built api never gets here).
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the build script is loaded only when the page must be built
    const { buildPage } = require(buildScript) as { buildPage: () => Promise<void> };
    await buildPage();
  })();
  return building;
}
