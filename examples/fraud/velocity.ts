// acmeBank/fraud/card-velocity: each transaction contributes to its card's hourly bucket.
// The amount total is an exact decimal string (sum over `format: number` strings), so cents never drift.
// This module has no imports at all: types are optional, `sluice generate` writes them when wanted.
export class Derivation {
  fromTransactions(read: { doc: { card_id: string; amount: number; country: string; ts: string } }) {
    const t = read.doc;
    return [
      {
        card_id: t.card_id,
        hour: t.ts.slice(0, 13),
        count: 1,
        total: String(t.amount),
        max_amount: t.amount,
        countries: { add: { [t.country]: 1 } },
      },
    ];
  }
}
