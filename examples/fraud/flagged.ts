// acmeBank/fraud/flagged: rule-based signals, one document per suspicious transaction.
import type {
  Document,
  IDerivation,
  SourceFromTransactions,
} from './flow_generated/acmeBank/fraud/flagged.ts';

const LARGE_AMOUNT = 1000;

export class Derivation implements IDerivation {
  fromTransactions(read: { doc: SourceFromTransactions }): Document[] {
    const t = read.doc;
    const reasons: string[] = [];
    if (t.amount >= LARGE_AMOUNT) reasons.push('large-amount');
    if (t.channel === 'online' && t.country !== t.home_country) reasons.push('foreign-card-not-present');
    if (reasons.length === 0) return [];
    return [{ txn_id: t.txn_id, card_id: t.card_id, amount: t.amount, reasons }];
  }
}
