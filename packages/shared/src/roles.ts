/**
 * The database roles of the pipeline, one per service (created by migrations/011_roles.sql,
 * which says what each may do). Whoever sets up the server gives them LOGIN and passwords: the
 * devstack when it starts its server, compose's db-roles one-shot from .env.
 *
 * @module
 */

/** Role names by what uses them. */
export const DATABASE_ROLES = {
  /** Runs `yarn migrate` and owns the schema's objects; the TimescaleDB jobs run as it. */
  migrator: 'mockstagram_migrator',
  /** The scheduler and its CLI: the influencers registry. */
  scheduler: 'mockstagram_scheduler',
  /** The result-handler: inserts samples, upserts influencer_latest. */
  resultHandler: 'mockstagram_result_handler',
  /** The api and Grafana: reads. */
  reader: 'mockstagram_reader',
} as const;

export type DatabaseRole = (typeof DATABASE_ROLES)[keyof typeof DATABASE_ROLES];

/** `url` with its user (and password) replaced: the same server, database and options as `role`. */
export function databaseUrlAs(url: string, role: string, password?: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(role);
  u.password = password === undefined ? '' : encodeURIComponent(password);
  return u.toString();
}

/**
 * Where each role's password comes from when the server asks for one: compose's .env (its
 * db-roles one-shot sets them, the services' DATABASE_URLs carry them). The devstack's server
 * asks for none.
 */
export const DATABASE_ROLE_PASSWORD_VARIABLES: Record<DatabaseRole, string> = {
  mockstagram_migrator: 'POSTGRES_MIGRATOR_PASSWORD',
  mockstagram_scheduler: 'POSTGRES_SCHEDULER_PASSWORD',
  mockstagram_result_handler: 'POSTGRES_RESULT_HANDLER_PASSWORD',
  mockstagram_reader: 'POSTGRES_READER_PASSWORD',
};
