export type { Strategy, StrategyName } from '../schema/reduce-annotation.ts';
export { NotAssociativeError, ReduceError, type ReduceErrorCode } from './errors.ts';
export { Reducer } from './reducer.ts';
