/**
 * RFC 6901 JSON pointers. `''` is the document root; `/a/0/b~1c` addresses `doc.a[0]['b/c']`.
 * Array tokens are decimal indices without leading zeros; `-` (one past the end) is accepted by
 * `setAt` to append.
 */

import { SluiceError } from '../errors.ts';
import { isObject, type Json, type JsonObject } from './types.ts';

/** Thrown for a malformed pointer or an impossible `setAt`/`deleteAt`. */
export class PointerError extends SluiceError {
  readonly code = 'InvalidPointer';
  constructor(
    message: string,
    readonly pointer: string,
  ) {
    super(`${message}: ${JSON.stringify(pointer)}`);
    this.name = 'PointerError';
  }
}

const parsedCache = new Map<string, string[]>();

/** Split a pointer into unescaped tokens (`~1` → `/`, `~0` → `~`). `''` → `[]`. Results are cached; do not mutate them. */
export function parsePointer(ptr: string): string[] {
  const cached = parsedCache.get(ptr);
  if (cached !== undefined) return cached;
  if (ptr !== '' && ptr[0] !== '/')
    throw new PointerError('a JSON pointer must be empty or start with "/"', ptr);
  const tokens: string[] = [];
  if (ptr !== '') {
    for (const raw of ptr.slice(1).split('/')) {
      if (raw.indexOf('~') < 0) {
        tokens.push(raw);
        continue;
      }
      if (/~(?![01])/.test(raw))
        throw new PointerError('"~" must be followed by 0 or 1 in a JSON pointer', ptr);
      tokens.push(raw.replace(/~1/g, '/').replace(/~0/g, '~'));
    }
  }
  if (parsedCache.size < 10_000) parsedCache.set(ptr, tokens);
  return tokens;
}

/** Escape one token for use in a pointer (`~` → `~0`, `/` → `~1`). */
export function escapeToken(token: string | number): string {
  const s = String(token);
  if (s.indexOf('~') < 0 && s.indexOf('/') < 0) return s;
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Build a pointer from unescaped tokens. `[]` → `''`. */
export function joinPointer(tokens: readonly (string | number)[]): string {
  let out = '';
  for (const t of tokens) out += '/' + escapeToken(t);
  return out;
}

/** Parse an array index token: a canonical non-negative decimal integer, else -1. */
export function arrayIndex(token: string): number {
  if (token.length === 0 || token.length > 15) return -1;
  if (token.length > 1 && token[0] === '0') return -1;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  return Number(token);
}

/** Own property of a JSON object, ignoring anything inherited from Object.prototype. */
export function ownProp(obj: JsonObject, key: string): Json | undefined {
  const v = obj[key];
  if (v === undefined || typeof v === 'function') return undefined;
  if (key === '__proto__' && !Object.hasOwn(obj, key)) return undefined;
  return v;
}

/** Set an own property, safely even for `__proto__`. */
export function setOwnProp(obj: JsonObject, key: string, value: Json): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

function tokensOf(ptr: string | readonly string[]): readonly string[] {
  return typeof ptr === 'string' ? parsePointer(ptr) : ptr;
}

/** The value at `ptr`, or undefined when the location does not exist. */
export function getAt(doc: Json | undefined, ptr: string | readonly string[]): Json | undefined {
  const tokens = tokensOf(ptr);
  let cur: Json | undefined = doc;
  for (let i = 0; i < tokens.length && cur !== undefined; i++) {
    const t = tokens[i];
    if (Array.isArray(cur)) {
      const idx = arrayIndex(t);
      cur = idx < 0 ? undefined : cur[idx];
    } else if (isObject(cur)) {
      cur = ownProp(cur, t);
    } else {
      return undefined;
    }
  }
  return cur;
}

/**
 * Set `value` at `ptr` in place, creating objects for missing parents, and return the document
 * (a new value only when `ptr` is the root). Throws PointerError when a parent is a scalar or an
 * array token is not an index (or `-`).
 */
export function setAt(doc: Json, ptr: string | readonly string[], value: Json): Json {
  const tokens = tokensOf(ptr);
  if (tokens.length === 0) return value;
  let cur: Json = doc;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const last = i === tokens.length - 1;
    if (Array.isArray(cur)) {
      const idx = t === '-' ? cur.length : arrayIndex(t);
      if (idx < 0 || idx > cur.length) {
        throw new PointerError(
          `token ${JSON.stringify(t)} is not a valid index into an array`,
          joinPointer(tokens),
        );
      }
      if (last) {
        cur[idx] = value;
        return doc;
      }
      let next: Json | undefined = cur[idx];
      if (next === undefined || next === null) {
        next = {};
        cur[idx] = next;
      }
      cur = next;
    } else if (isObject(cur)) {
      if (last) {
        setOwnProp(cur, t, value);
        return doc;
      }
      let next = ownProp(cur, t);
      if (next === undefined || next === null) {
        next = {};
        setOwnProp(cur, t, next);
      }
      cur = next;
    } else {
      throw new PointerError(
        `cannot descend into a ${cur === null ? 'null' : typeof cur}`,
        joinPointer(tokens),
      );
    }
  }
  return doc;
}

/** Remove the location in place. Returns true when something was removed. The root cannot be deleted. */
export function deleteAt(doc: Json, ptr: string | readonly string[]): boolean {
  const tokens = tokensOf(ptr);
  if (tokens.length === 0) throw new PointerError('cannot delete the document root', '');
  const parent = getAt(doc, tokens.slice(0, -1));
  const t = tokens[tokens.length - 1];
  if (Array.isArray(parent)) {
    const idx = arrayIndex(t);
    if (idx < 0 || idx >= parent.length) return false;
    parent.splice(idx, 1);
    return true;
  }
  if (isObject(parent) && ownProp(parent, t) !== undefined) {
    delete parent[t];
    return true;
  }
  return false;
}
