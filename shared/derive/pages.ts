/**
 * A SQLite database image as content-addressed pages, so that a commit writes only the pages that
 * changed: the image is cut into pages of SQLite's page size (bytes 16–17 of the header; 4096 by
 * default) and each is named by its SHA-256. Identical pages share one name.
 */
import { createHash } from 'node:crypto';

export interface PagedImage {
  /** Page hashes in page order: the manifest's `pages`. */
  hashes: string[];
  /** Page content by hash. */
  pages: Map<string, Uint8Array>;
}

/** SQLite's page size from the database header (1 means 65536); 4096 for an empty image. */
export function pageSize(image: Uint8Array): number {
  if (image.length < 100) return 4096;
  const raw = (image[16] << 8) | image[17];
  return raw === 1 ? 65536 : raw;
}

export function toPages(image: Uint8Array): PagedImage {
  return toChunks(image, pageSize(image));
}

/** Bytes cut into content-addressed chunks of `size` bytes (the last one shorter). */
export function toChunks(image: Uint8Array, size: number): PagedImage {
  const hashes: string[] = [];
  const pages = new Map<string, Uint8Array>();
  for (let off = 0; off < image.length; off += size) {
    const page = image.subarray(off, Math.min(off + size, image.length));
    const hash = createHash('sha256').update(page).digest('base64url').slice(0, 22);
    hashes.push(hash);
    if (!pages.has(hash)) pages.set(hash, page);
  }
  return { hashes, pages };
}

export function fromPages(hashes: string[], pages: Map<string, Uint8Array>): Uint8Array {
  const parts = hashes.map((h) => {
    const p = pages.get(h);
    if (!p) throw new Error(`page ${h} is missing`);
    return p;
  });
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
