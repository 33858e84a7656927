export type { Strategy, StrategyName } from '../schema/reduce-annotation.ts';
export { NotAssociativeError, ReduceError, type ReduceErrorCode } from './errors.ts';
export { type ReduceOptions, Reducer } from './reducer.ts';
