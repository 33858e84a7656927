import { describe, expect, it } from 'vitest';
import {
  deleteAt,
  escapeToken,
  getAt,
  joinPointer,
  PointerError,
  parsePointer,
  setAt,
} from '../../shared/json/pointer.ts';
import type { Json } from '../../shared/json/types.ts';

describe('parsePointer / joinPointer / escapeToken', () => {
  it.each([
    ['', []],
    ['/', ['']],
    ['/a/0/b', ['a', '0', 'b']],
    ['/a~1b/c~0d', ['a/b', 'c~d']],
    ['/~01', ['~1']],
    ['/a//b', ['a', '', 'b']],
  ])('parses %j', (ptr, tokens) => {
    expect(parsePointer(ptr)).toEqual(tokens);
    expect(joinPointer(tokens)).toBe(ptr);
  });

  it('rejects pointers without a leading slash and bad escapes, naming the pointer', () => {
    expect(() => parsePointer('a/b')).toThrow(PointerError);
    expect(() => parsePointer('/a~2')).toThrow(/"\/a~2"/);
    try {
      parsePointer('x');
    } catch (e) {
      expect((e as PointerError).code).toBe('InvalidPointer');
      expect((e as PointerError).pointer).toBe('x');
    }
  });

  it('escapes ~ before /', () => {
    expect(escapeToken('a~/b')).toBe('a~0~1b');
    expect(escapeToken(3)).toBe('3');
    expect(joinPointer(['x', 2, 'y/z'])).toBe('/x/2/y~1z');
  });
});

describe('getAt', () => {
  const doc: Json = { a: [{ b: 1 }, null], 'x/y': { '~': true }, '': 'empty' };
  it.each([
    ['', doc],
    ['/a/0/b', 1],
    ['/a/1', null],
    ['/a/2', undefined],
    ['/a/01', undefined],
    ['/a/-', undefined],
    ['/x~1y/~0', true],
    ['/', 'empty'],
    ['/a/0/b/c', undefined],
    ['/nope', undefined],
    ['/constructor', undefined],
    ['/toString', undefined],
  ])('%s', (ptr, want) => {
    expect(getAt(doc, ptr)).toEqual(want);
  });

  it('accepts parsed tokens', () => {
    expect(getAt(doc, ['a', '0', 'b'])).toBe(1);
  });

  it('reads an own __proto__ property but never the prototype', () => {
    const parsed = JSON.parse('{"__proto__": {"p": 1}}') as Json;
    expect(getAt(parsed, '/__proto__/p')).toBe(1);
    expect(getAt({}, '/__proto__')).toBeUndefined();
  });
});

describe('setAt / deleteAt', () => {
  it('creates objects on the way and sets in place', () => {
    const doc: Json = { a: 1 };
    expect(setAt(doc, '/b/c/d', 5)).toBe(doc);
    expect(doc).toEqual({ a: 1, b: { c: { d: 5 } } });
    setAt(doc, '/b/c/d', [0]);
    setAt(doc, '/b/c/d/-', 1);
    setAt(doc, '/b/c/d/0', 'z');
    expect(doc).toEqual({ a: 1, b: { c: { d: ['z', 1] } } });
  });

  it('replaces the root', () => {
    expect(setAt({ a: 1 }, '', 7)).toBe(7);
  });

  it('refuses to descend into scalars or past the end of arrays', () => {
    expect(() => setAt({ a: 1 }, '/a/b', 2)).toThrow(/cannot descend into a number.*"\/a\/b"/);
    expect(() => setAt({ a: [] }, '/a/3', 2)).toThrow(PointerError);
  });

  it('does not pollute prototypes', () => {
    const doc: Json = {};
    setAt(doc, '/__proto__/polluted', true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.hasOwn(doc, '__proto__')).toBe(true);
  });

  it('deletes properties and array items', () => {
    const doc: Json = { a: { b: 1, c: 2 }, l: [1, 2, 3] };
    expect(deleteAt(doc, '/a/b')).toBe(true);
    expect(deleteAt(doc, '/a/zz')).toBe(false);
    expect(deleteAt(doc, '/l/1')).toBe(true);
    expect(deleteAt(doc, '/l/9')).toBe(false);
    expect(doc).toEqual({ a: { c: 2 }, l: [1, 3] });
    expect(() => deleteAt(doc, '')).toThrow(PointerError);
  });
});
