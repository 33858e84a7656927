/** One IAM wildcard for a folder of collections, only where it names exactly those (infra/name-patterns.ts). */
import { describe, expect, it } from 'vitest';
import { namePatterns } from '../../infra/name-patterns.ts';
import { streamNameFor } from '../../shared/config/env.ts';

const ALL = ['acme/cdc/a', 'acme/cdc/b', 'acme/cdc/c', 'acme/events', 'other/x'];
const stream = (c: string) => streamNameFor('Test-Flow', c);

describe('namePatterns', () => {
  it('a folder whose every collection is chosen becomes one pattern; the rest stay by name', () => {
    expect(namePatterns(['acme/cdc/a', 'acme/cdc/b', 'acme/cdc/c', 'other/x'], ALL, stream)).toEqual({
      patterns: ['Test-Flow-acme.cdc.*'],
      single: ['other/x'],
    });
  });

  it('the widest exact folder wins', () => {
    expect(namePatterns(['acme/cdc/a', 'acme/cdc/b', 'acme/cdc/c', 'acme/events'], ALL, stream)).toEqual({
      patterns: ['Test-Flow-acme.*'],
      single: [],
    });
  });

  it('no pattern when one member of the folder is not chosen, or for a folder of one', () => {
    expect(namePatterns(['acme/cdc/a', 'acme/cdc/b'], ALL, stream)).toEqual({
      patterns: [],
      single: ['acme/cdc/a', 'acme/cdc/b'],
    });
    expect(namePatterns(['other/x'], ALL, stream).patterns).toEqual([]);
  });

  it('a name outside the folder that the pattern would match (acme/cdc.x/y as acme.cdc.x.y) keeps it exact', () => {
    const all = [...ALL, 'acme/cdc.x/y'];
    expect(namePatterns(['acme/cdc/a', 'acme/cdc/b', 'acme/cdc/c'], all, stream).patterns).toEqual([]);
    expect(
      namePatterns(['acme/cdc/a', 'acme/cdc/b', 'acme/cdc/c', 'acme/cdc.x/y'], all, stream).patterns,
    ).toEqual(['Test-Flow-acme.cdc.*']);
  });

  it('no pattern longer than the given maximum (names past 128 characters are cut)', () => {
    expect(namePatterns(['acme/cdc/a', 'acme/cdc/b', 'acme/cdc/c'], ALL, stream, 10).patterns).toEqual([]);
  });
});
