/**
 * `@mockstagram/testkit`: what the tests and benchmarks of every workspace share (README.md).
 * Only tests and benchmarks import it; no app depends on it, so no bundle or image carries it.
 *
 * @packageDocumentation
 */
export { uniqueName } from './names';
export { kafkaBrokers, testKafka, testKafkaClient, createTopics } from './kafka';
export { databaseUrl, freshSchema, roleUrl, withSearchPath, pausePolicies, type TestSchema } from './database';
export { hoursAgo, daysAgo } from './time';
export { freePort, freePorts } from './ports';
export { eventually } from './eventually';
export { metricSum } from './metrics';
export {
  startCommand,
  ServiceProcess,
  startMain,
  pipelineEnvironments,
  type ServiceName,
  type MainProcess,
  type PipelineWiring,
} from './services';
export { writeHistory, idRange, type HistoryOptions } from './history';
