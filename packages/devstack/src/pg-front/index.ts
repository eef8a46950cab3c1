/**
 * The devstack's PostgreSQL wire front for PGlite, in parts: server (listening, startup, shutdown),
 * session (one connection), ownership (who has the one Postgres session), settings (per-connection
 * settings replayed onto it), statements (COPY FROM STDIN and SET/RESET recognised with the shared
 * SQL lexer) and codec (protocol messages, through pg-protocol and pg-gateway).
 */
export { servePglite, stopServing, type Log, type ServePgliteOptions, type StopServingOptions } from './server';
