/**
 * The Kafka connection settings every producer, consumer and admin of a service shares. The
 * client library is @platformatic/kafka (see docs/performance.md, "The Kafka client"); only the
 * modules of this folder import it.
 *
 * @module
 */
import type { Logger } from '../logger';

export interface CreateKafkaOptions {
  /** `host:port` list, e.g. `config.KAFKA_BROKERS`. */
  brokers: string[];
  /** Shows up in broker logs and quotas: the service's `KAFKA_CLIENT_ID` (its schema defaults it to the service's name). */
  clientId: string;
  /** The client's connection events are logged through `logger.child({ component: 'kafka' })`. */
  logger: Logger;
  /** TCP connect timeout per broker. Default 3000 ms. */
  connectionTimeoutMs?: number;
  /** Per-request timeout. Default 30 000 ms. */
  requestTimeoutMs?: number;
  /** Retries of a failed request (see {@link createKafka}). Default 8. */
  retries?: number;
}

/** What {@link createKafka} resolved: the settings, with their defaults filled in. */
export interface KafkaClient {
  readonly brokers: string[];
  readonly clientId: string;
  readonly logger: Logger;
  readonly connectionTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly retries: number;
}

/**
 * Resolves the connection settings once. Retries (connects, metadata, group and admin requests):
 * 8 retries, starting at 300 ms and doubling to at most 30 s between tries, about 2 minutes in
 * all: long enough to ride out a broker restart or a leader election.
 */
export function createKafka(options: CreateKafkaOptions): KafkaClient {
  return {
    brokers: options.brokers,
    clientId: options.clientId,
    logger: options.logger.child({ component: 'kafka' }),
    connectionTimeoutMs: options.connectionTimeoutMs ?? 3000,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    retries: options.retries ?? 8,
  };
}

/** The wait before retry `attempt`: from 300 ms, ×2, at most 30 s. */
export function retryDelayMs(_client: unknown, _operation: string, attempt: number): number {
  return Math.min(30_000, 300 * 2 ** Math.max(0, attempt - 1));
}

/** The options the client library's Producer, Consumer and Admin take from a {@link KafkaClient}. */
export function baseOptions(kafka: KafkaClient, clientIdSuffix = '') {
  return {
    clientId: `${kafka.clientId}${clientIdSuffix}`,
    bootstrapBrokers: kafka.brokers,
    connectTimeout: kafka.connectionTimeoutMs,
    requestTimeout: kafka.requestTimeoutMs,
    timeout: kafka.requestTimeoutMs,
    retries: kafka.retries,
    retryDelay: retryDelayMs,
  };
}

/** Logs a client's broker connection events (connect at debug, a lost connection at warn). */
export function logConnections(
  kafka: KafkaClient,
  client: { on(event: string, listener: (payload: unknown) => void): unknown },
  role: string,
): void {
  const log = kafka.logger;
  client.on('client:broker:connect', (payload) =>
    log.debug({ role, broker: brokerOf(payload) }, 'kafka broker connected'),
  );
  client.on('client:broker:disconnect', (payload) =>
    log.debug({ role, broker: brokerOf(payload) }, 'kafka broker disconnected'),
  );
  client.on('client:broker:failed', (payload) =>
    log.warn({ role, broker: brokerOf(payload) }, 'kafka broker connection failed'),
  );
}

function brokerOf(payload: unknown): string | undefined {
  const broker = (payload as { broker?: { host?: string; port?: number } } | undefined)?.broker;
  return broker?.host === undefined ? undefined : `${broker.host}:${broker.port}`;
}
