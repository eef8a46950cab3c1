/**
 * A kafkajs client for the group consumers of the fetcher and the result-handler, built from the
 * same {@link KafkaClient} settings. Everything else (producers, topic admin) runs on the
 * client of ./producer and ./topics; the consume–process–commit stage replaces this module.
 *
 * @module
 */
import { Kafka, logLevel as KafkaLogLevel, type LogEntry } from 'kafkajs';
import type { KafkaClient } from './client';

/** The kafkajs client for a consumer: the same brokers, client id, timeouts and retries, its log lines through the pino logger. */
export function kafkajsClient(kafka: KafkaClient): Kafka {
  const log = kafka.logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: kafka.clientId,
    brokers: kafka.brokers,
    connectionTimeout: kafka.connectionTimeoutMs,
    requestTimeout: kafka.requestTimeoutMs,
    retry: { initialRetryTime: 300, retries: 8, maxRetryTime: 30_000, factor: 0.2, multiplier: 2 },
    logLevel: kafkaLogLevel(log.level),
    logCreator:
      () =>
      ({ namespace, level, log: entry }: LogEntry) => {
        const { message, timestamp: _t, logger: _l, ...fields } = entry;
        const method = level === KafkaLogLevel.ERROR ? 'error' : level === KafkaLogLevel.WARN ? 'warn' : level === KafkaLogLevel.INFO ? 'info' : 'debug';
        log[method]({ namespace, ...fields }, message);
      },
  });
}

/** pino level → the kafkajs level that lets the same lines through. */
function kafkaLogLevel(level: string): KafkaLogLevel {
  switch (level) {
    case 'trace':
    case 'debug':
      return KafkaLogLevel.DEBUG;
    case 'info':
      return KafkaLogLevel.INFO;
    case 'warn':
      return KafkaLogLevel.WARN;
    case 'silent':
      return KafkaLogLevel.NOTHING;
    default:
      return KafkaLogLevel.ERROR;
  }
}
