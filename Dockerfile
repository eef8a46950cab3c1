# syntax=docker/dockerfile:1
#
# One image recipe for the apps (mock-api, scheduler, fetcher, result-handler, api) and the
# migration runner. The build step type-checks the whole tree (`yarn typecheck`, strict tsc) and
# bundles each app's own code into `apps/<app>/dist/main.js` (`yarn build`, esbuild); an app runs
# that file exactly as its `start` script does (`node --max-old-space-size=128 dist/main.js`: no
# TypeScript loader in the process, ~50 MiB less memory, and a heap limit that makes V8 collect
# before the process passes ~150 MiB; docs/performance.md has the figures). The one-shots (migrate,
# the scheduler's register CLI) are bundled the same way (scripts/build.ts ONE_SHOTS), so the
# runtime image holds production dependencies only, no tsx or esbuild, and no TypeScript sources.
# An image is only produced from code that type-checks.
#
#   docker build --build-arg APP=fetcher -t mockstagram-fetcher .      # one app
#   docker build --target migrate -t mockstagram-migrate .             # `yarn migrate`
#
# docker-compose.yml builds every service from this file.

ARG NODE_IMAGE=node:24.22.3-bookworm-slim

# ---------------------------------------------------------------------------------------------
# deps: every workspace's dependencies, dev ones included (tsc, type packages). The manifests and
# the lockfile come first so this layer is reused until one of them changes.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json yarn.lock ./
COPY apps/mock-api/package.json apps/mock-api/
COPY apps/scheduler/package.json apps/scheduler/
COPY apps/fetcher/package.json apps/fetcher/
COPY apps/result-handler/package.json apps/result-handler/
COPY apps/api/package.json apps/api/
COPY packages/shared/package.json packages/shared/
COPY packages/devstack/package.json packages/devstack/
COPY packages/testkit/package.json packages/testkit/
RUN --mount=type=cache,id=mockstagram-yarn,target=/usr/local/share/.cache/yarn \
    yarn install --frozen-lockfile --non-interactive --network-timeout 600000

# ---------------------------------------------------------------------------------------------
# build: the sources, type-checked, and each app bundled into apps/<app>/dist/main.js.
FROM deps AS build
COPY . .
RUN yarn typecheck && yarn build

# ---------------------------------------------------------------------------------------------
# prod-deps: production dependencies of the apps and @mockstagram/shared only (the devstack,
# which brings a WebAssembly PostgreSQL for machines without Docker, is not needed in an image,
# nor the testkit, which only the tests and benchmarks import).
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json yarn.lock ./
COPY apps/mock-api/package.json apps/mock-api/
COPY apps/scheduler/package.json apps/scheduler/
COPY apps/fetcher/package.json apps/fetcher/
COPY apps/result-handler/package.json apps/result-handler/
COPY apps/api/package.json apps/api/
COPY packages/shared/package.json packages/shared/
RUN --mount=type=cache,id=mockstagram-yarn,target=/usr/local/share/.cache/yarn \
    yarn install --frozen-lockfile --production --non-interactive --network-timeout 600000

# ---------------------------------------------------------------------------------------------
# runtime-base: production node_modules + the built apps and one-shots and the migrations, owned by
# root and read-only for the `node` user that runs them. Copying them from `build` (not from the
# context) makes every image depend on the type check.
FROM ${NODE_IMAGE} AS runtime-base
ENV NODE_ENV=production \
    PATH=/app/node_modules/.bin:$PATH
WORKDIR /app
COPY --from=prod-deps /app ./
COPY --from=build /app/migrations ./migrations
COPY --from=build /app/packages/shared/dist ./packages/shared/dist
COPY --from=build /app/apps/mock-api/dist ./apps/mock-api/dist
COPY --from=build /app/apps/scheduler/dist ./apps/scheduler/dist
COPY --from=build /app/apps/fetcher/dist ./apps/fetcher/dist
COPY --from=build /app/apps/result-handler/dist ./apps/result-handler/dist
COPY --from=build /app/apps/api/dist ./apps/api/dist
USER node
STOPSIGNAL SIGTERM

# ---------------------------------------------------------------------------------------------
# migrate: `yarn migrate` (packages/shared/src/migrate-cli.ts), bundled; one-shot.
FROM runtime-base AS migrate
WORKDIR /app
CMD ["node", "packages/shared/dist/migrate-cli.js"]

# ---------------------------------------------------------------------------------------------
# app (the default target): one app, chosen with --build-arg APP=<mock-api|scheduler|fetcher|
# result-handler|api>, started the way its `start` script does. The healthcheck asks the app's own
# /healthz on the port variable that app reads (default as in its config schema).
FROM runtime-base AS app
ARG APP
ENV APP=${APP}
RUN case "${APP}" in \
      mock-api|scheduler|fetcher|result-handler|api) ;; \
      *) echo "build with --build-arg APP=<mock-api|scheduler|fetcher|result-handler|api> (got '${APP}')" >&2; exit 1 ;; \
    esac
WORKDIR /app/apps/${APP}
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "const [name, port] = { 'mock-api': ['MOCK_API_PORT', 3001], scheduler: ['SCHEDULER_HTTP_PORT', 8081], fetcher: ['FETCHER_HTTP_PORT', 8082], 'result-handler': ['RESULT_HANDLER_HTTP_PORT', 8083], api: ['API_HTTP_PORT', 8084] }[process.env.APP]; fetch(`http://127.0.0.1:${process.env[name] || port}/healthz`, { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1));"]
CMD ["node", "--max-old-space-size=128", "--max-semi-space-size=8", "dist/main.js"]
