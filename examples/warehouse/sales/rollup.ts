// acmeCo/sales/daily-by-region: each order adds to its day and region; a deleted order
// (`_meta/op: d` from the PostgreSQL capture) subtracts what it had added.
import type {
  Document,
  IDerivation,
  SourceFromOrders,
} from '../flow_generated/acmeCo/sales/daily-by-region.ts';

export class Derivation implements IDerivation {
  fromOrders(read: { doc: SourceFromOrders }): Document[] {
    const o = read.doc;
    const day = o.created_at.slice(0, 10);
    if (o._meta?.op === 'd') {
      return [{ day, region: o.region, orders: -1, revenue: -o.amount }];
    }
    return [
      {
        day,
        region: o.region,
        orders: 1,
        revenue: o.amount,
        largest_order: o.amount,
        first_order_at: o.created_at,
      },
    ];
  }
}
