/** The ports the task logic is written against; adapters in shared/adapters implement them. */
export * from './blob.ts';
export * from './framing.ts';
export * from './journal.ts';
export * from './position.ts';
export * from './state.ts';
export * from './usage.ts';
