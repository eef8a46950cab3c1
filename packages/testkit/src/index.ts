export * from './engines';
export * from './services';
export * from './history';
