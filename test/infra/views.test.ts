/**
 * Which collections keep a reduced view (SluiceCatalogProps.views): a persister without one writes
 * fragments only, gets no access to the state table (so it cannot write a view by accident) and is
 * told so in SLUICE_VIEW; the others are as before; names that are not collections are refused with
 * where and what is allowed.
 */
import { describe, expect, it } from 'vitest';
import { DeployUnsupportedError } from '../../infra/errors.ts';
import { fixtureCatalog } from './fixture.ts';
import { assertLeastPrivilege, functionOfTask, roleOfTask, statementsOfRole, synth } from './support.ts';

const env = (props: Record<string, unknown>) =>
  ((props.Environment as { Variables?: Record<string, unknown> }).Variables ?? {}) as Record<string, unknown>;

function stateActions(template: Parameters<typeof roleOfTask>[0], label: string): string[] {
  return statementsOfRole(template, roleOfTask(template, label))
    .filter((s) => JSON.stringify(s.Action).includes('dynamodb:'))
    .flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]))
    .sort();
}

describe('views', () => {
  it('by default every persister keeps its view: state-table writes, no SLUICE_VIEW', () => {
    const { template } = synth(fixtureCatalog());
    for (const label of ['persister:acme/events', 'persister:acme/totals']) {
      expect(env(functionOfTask(template, label).props).SLUICE_VIEW, label).toBeUndefined();
      expect(stateActions(template, label), label).toContain('dynamodb:PutItem');
    }
  });

  it('a list keeps views for exactly those collections; the others write fragments only', () => {
    const { template } = synth(fixtureCatalog(), { views: ['acme/totals'] });
    const events = functionOfTask(template, 'persister:acme/events').props;
    expect(env(events).SLUICE_VIEW).toBe('off');
    expect(env(events).SLUICE_APPLIED_HORIZON_SECONDS).toBeUndefined();
    expect(stateActions(template, 'persister:acme/events')).toEqual([]);
    // Fragments are still written.
    const s3 = statementsOfRole(template, roleOfTask(template, 'persister:acme/events')).filter((s) =>
      JSON.stringify(s.Action).includes('s3:PutObject'),
    );
    expect(s3.length).toBeGreaterThan(0);
    expect(env(functionOfTask(template, 'persister:acme/totals').props).SLUICE_VIEW).toBeUndefined();
    expect(stateActions(template, 'persister:acme/totals')).toContain('dynamodb:PutItem');
    assertLeastPrivilege(template);
  });

  it("'none' turns every view off", () => {
    const { template } = synth(fixtureCatalog(), { views: 'none' });
    for (const label of ['persister:acme/events', 'persister:acme/totals'])
      expect(env(functionOfTask(template, label).props).SLUICE_VIEW, label).toBe('off');
  });

  it('refuses a name that is not a collection, saying which and what is allowed', () => {
    const attempt = () => synth(fixtureCatalog(), { views: ['acme/totals', 'acme/nope'] });
    expect(attempt).toThrow(DeployUnsupportedError);
    expect(attempt).toThrow(
      /^SluiceCatalogProps\.views: .*collection of this catalog: acme\/events, .*\(at \/1; found "acme\/nope"\)/,
    );
    expect(() => synth(fixtureCatalog(), { views: 'some' as never })).toThrow(/'all', 'none' or a list/);
  });
});
