/** Collection keys: extract them from documents, pack them order-preserving, hash them for routing. */
export { extractKey, type KeyExtractor, keyExtractor } from './extract.ts';
export { explicitHashKey, hashKey } from './hash.ts';
export { KeyDecodeError, KeyEncodeError, packKey, packKeyBinary, unpackKey } from './pack.ts';
