// Derivation of acmeCo/clickstream/user-profiles: one partial profile per event; the collection's
// reduce annotations (sum, minimize/maximize, merge, set) fold them into one profile per user.
import type {
  Document,
  IDerivation,
  SourceFromEvents,
} from './flow_generated/acmeCo/clickstream/user-profiles.ts';

export class Derivation implements IDerivation {
  fromEvents(read: { doc: SourceFromEvents }): Document[] {
    const e = read.doc;
    const profile: Document = {
      user_id: e.user_id,
      views: e.type === 'view' ? 1 : 0,
      clicks: e.type === 'click' ? 1 : 0,
      purchases: e.type === 'purchase' ? 1 : 0,
      first_seen: e.ts,
      last_seen: e.ts,
    };
    if (e.type === 'purchase') profile.revenue = e.price ?? 0;
    if (e.type === 'view') profile.recently_viewed = { [e.item_id]: e.ts };
    if (e.category !== undefined) profile.categories = { add: { [e.category]: 1 } };
    return [profile];
  }
}
