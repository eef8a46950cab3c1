/**
 * Kafka for the services: connection settings, the idempotent producer, topic admin and message
 * shapes. This folder and the stage (../stage) are the only places that import the client
 * library (@platformatic/kafka).
 *
 * @module
 */
export * from './client';
export * from './messages';
export * from './producer';
export * from './topics';
export * from './errors';
