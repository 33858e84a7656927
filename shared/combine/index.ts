/** Combining documents by key: partial reduction in memory, spilling sorted runs, draining in key order. */
export {
  CombineError,
  Combiner,
  type CombinerOptions,
  type CombinerStats,
  DEFAULT_MEMORY_BUDGET_BYTES,
  type DrainedDoc,
  MAX_RUNS,
} from './combiner.ts';
export { estimateSize } from './size.ts';
export { SpillFileError } from './spill.ts';
