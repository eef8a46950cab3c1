/**
 * Kafka for the services: connection settings, the idempotent producer, topic admin, the
 * consumer group member and message shapes. The only place that imports the client library
 * (@platformatic/kafka).
 *
 * @module
 */
export * from './client';
export * from './messages';
export * from './producer';
export * from './topics';
export * from './errors';
export * from './kafkajs-consumer';
