import { collectConsumerLag, CONSUMER_LAG_HELP, Counter, Gauge, Histogram, type Registry } from '@mockstagram/shared';

/** The result-handler's Prometheus metrics (on top of the registry's process defaults). */
export interface ResultHandlerMetrics {
  /** Rows actually inserted into `follower_counts` (the INSERT's row count). */
  rowsWritten: Counter;
  /** Valid results whose row was already stored (redeliveries): attempted − inserted. */
  rowsDuplicate: Counter;
  /** Messages read from the results topic, valid or not. */
  messagesConsumed: Counter;
  /** Messages per flush (rows and dead letters). */
  batchSize: Histogram;
  /** From the start of a flush until its offsets are committed, retries included. */
  flushDuration: Histogram;
  /** Messages written to the DLQ, by reason (`not-json`, `invalid`, `db-rejected`). */
  dlqMessages: Counter<'reason'>;
  /** Flush attempts that failed and were retried (database unreachable or erroring). */
  dbRetries: Counter;
  /** 1 while consumption is paused because the database is failing. */
  paused: Gauge;
  /** Messages of each assigned partition not yet committed (end offset − committed offset), read when scraped. */
  consumerLag: Gauge<'topic' | 'partition'>;
}

/** Creates and registers the metrics on `registry` (once per registry). */
export function createResultHandlerMetrics(registry: Registry): ResultHandlerMetrics {
  const registers = [registry];
  return {
    rowsWritten: new Counter({
      name: 'result_handler_rows_written_total',
      help: 'Rows inserted into follower_counts (INSERT row count)',
      registers,
    }),
    rowsDuplicate: new Counter({
      name: 'result_handler_rows_duplicate_total',
      help: 'Valid results whose (influencer_id, observed_at) row was already stored',
      registers,
    }),
    messagesConsumed: new Counter({
      name: 'result_handler_messages_consumed_total',
      help: 'Messages read from the fetch-results topic, valid or not',
      registers,
    }),
    batchSize: new Histogram({
      name: 'result_handler_batch_size',
      help: 'Messages per flush (one database transaction)',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 20000],
      registers,
    }),
    flushDuration: new Histogram({
      name: 'result_handler_flush_duration_seconds',
      help: 'Duration of a flush: database transaction, dead letters and offset commit, retries included',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    dlqMessages: new Counter({
      name: 'result_handler_dlq_messages_total',
      help: 'Messages sent to the dead-letter topic, by reason',
      labelNames: ['reason'],
      registers,
    }),
    dbRetries: new Counter({
      name: 'result_handler_db_retries_total',
      help: 'Database writes that failed and were retried after a backoff',
      registers,
    }),
    paused: new Gauge({
      name: 'result_handler_paused',
      help: '1 while consumption is paused because the database is failing, else 0',
      registers,
    }),
    consumerLag: new Gauge({
      name: 'kafka_consumer_lag',
      help: CONSUMER_LAG_HELP,
      labelNames: ['topic', 'partition'] as const,
      registers,
      collect: collectConsumerLag,
    }),
  };
}
