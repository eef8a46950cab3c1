/**
 * The consume–process–commit stage (see ./stage) and its settings.
 *
 * @module
 */
export * from './settings';
export * from './stage';
export * from './lag';
export { PartitionProgress, type Entry } from './progress';
