// Denied transfers in a row per sender. The streaks are the derivation's state: Estuary (and Sluice)
// construct the class with the state last committed, and commit what startCommit returns with the
// transaction's checkpoint, here as a merge patch of only the senders that changed.
import { type Document, IDerivation, type SourceFromOutcomes } from 'flow/acmeBank/deny-streaks.ts';

interface State {
  streaks: Record<string, number>;
}

export class Derivation extends IDerivation {
  private state: State;
  private changed: Record<string, number> = {};

  constructor(open: { state: unknown }) {
    super(open);
    const s = open.state as Partial<State> | undefined;
    this.state = { streaks: { ...s?.streaks } };
  }

  fromOutcomes(read: { doc: SourceFromOutcomes }): Document[] {
    const { sender, outcome } = read.doc;
    const streak = outcome === 'deny' ? (this.state.streaks[sender] ?? 0) + 1 : 0;
    this.state.streaks[sender] = streak;
    this.changed[sender] = streak;
    return [{ sender, streak, longest: streak }];
  }

  override startCommit(_: { runtimeCheckpoint: unknown }) {
    const updated = { streaks: this.changed };
    this.changed = {};
    return { state: { updated, mergePatch: true } };
  }

  override async reset() {
    this.state = { streaks: {} };
    this.changed = {};
  }
}
