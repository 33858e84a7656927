/**
 * Drafts (Estuary's drafts): edits of the catalog folder's files held in the browser until published.
 * A draft is checked by copying the catalog folder to a temporary one, writing the draft's files over
 * the copy and loading it with the same loader as `sluice check` — the real files are untouched until
 * `publish`, which checks again (the browser is not trusted to have checked) and writes only when the
 * draft has no errors.
 */
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, isAbsolute, join, normalize, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { hasErrors, loadCatalog } from '../catalog/load.ts';
import type { BuiltCatalog } from '../catalog/model.ts';
import type { DraftCheck, DraftDiagnostic } from './api-types.ts';
import { diffCatalogs } from './catalog-diff.ts';
import { ConsoleError } from './collections.ts';

/** Files a draft may edit: catalogs, schemas, fixtures and derivation modules. */
const EDITABLE = new Set(['.yaml', '.yml', '.json', '.ts']);
const SKIP_DIRS = new Set(['node_modules', 'flow_generated', 'cdk.out']);
const COPY_SKIP = new Set(['node_modules', '.sluice', '.git', 'cdk.out']);
const MAX_FILES = 200;
const MAX_FILE_BYTES = 1024 * 1024;

/** A draft: file path relative to the catalog folder → its full text. */
export type DraftFiles = Record<string, string>;

export function editableFiles(folder: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('.') || SKIP_DIRS.has(name)) continue;
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (EDITABLE.has(extname(name)) && st.size <= MAX_FILE_BYTES && out.length < MAX_FILES)
        out.push(relative(folder, p).split(sep).join('/'));
    }
  };
  walk(folder);
  return out;
}

/** The draft's paths, checked to stay inside the catalog folder and to be files a draft may edit. */
function checkedPaths(files: DraftFiles): [string, string][] {
  return Object.entries(files).map(([rel, text]) => {
    const p = normalize(rel);
    if (isAbsolute(p) || p.startsWith('..') || p.split(/[\\/]/).some((x) => x.startsWith('.')))
      throw new ConsoleError(400, `draft file ${JSON.stringify(rel)} is outside the catalog folder`);
    if (!EDITABLE.has(extname(p)))
      throw new ConsoleError(400, `draft file ${rel}: only ${[...EDITABLE].join(', ')} files can be edited`);
    if (typeof text !== 'string' || Buffer.byteLength(text) > MAX_FILE_BYTES)
      throw new ConsoleError(400, `draft file ${rel}: expected text of at most ${MAX_FILE_BYTES} bytes`);
    return [p, text];
  });
}

export class Drafts {
  readonly folder: string;
  private readonly rootName: string;

  constructor(catalogPath: string) {
    this.folder = dirname(catalogPath);
    this.rootName = relative(this.folder, catalogPath);
  }

  files(): string[] {
    return editableFiles(this.folder);
  }

  read(rel: string): string {
    const [[p]] = checkedPaths({ [rel]: '' });
    try {
      return readFileSync(join(this.folder, p), 'utf8');
    } catch {
      throw new ConsoleError(404, `no file ${rel} in ${this.folder}`);
    }
  }

  /**
   * Load the draft in a copy of the catalog folder and hand the result to `use` while the copy exists
   * (tests import the copy's derivation modules). Diagnostics come back relative to the real folder.
   */
  async withDraft<T>(
    files: DraftFiles,
    use: (loaded: { catalog?: BuiltCatalog; diagnostics: DraftDiagnostic[]; dir: string }) => Promise<T>,
  ): Promise<T> {
    const entries = checkedPaths(files);
    const dir = mkdtempSync(join(tmpdir(), 'sluice-draft-'));
    try {
      cpSync(this.folder, dir, {
        recursive: true,
        // Generated types are copied (modules import them); installed packages and local data are not.
        filter: (src) => src === this.folder || !COPY_SKIP.has(basename(src)),
      });
      for (const [p, text] of entries) {
        mkdirSync(dirname(join(dir, p)), { recursive: true });
        writeFileSync(join(dir, p), text);
      }
      const { catalog, diagnostics } = await loadCatalog(join(dir, this.rootName));
      const mapped = diagnostics.map((d) => ({
        ...d,
        file: d.file.startsWith(dir) ? relative(dir, d.file).split(sep).join('/') : d.file,
        message: d.message.replaceAll(dir, this.folder),
      }));
      return await use({ catalog: hasErrors(diagnostics) ? undefined : catalog, diagnostics: mapped, dir });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Check a draft as `sluice check` would, and say what publishing it would change. */
  check(files: DraftFiles, running: BuiltCatalog): Promise<DraftCheck> {
    return this.withDraft(files, async ({ catalog, diagnostics }) => ({
      ok: catalog !== undefined,
      diagnostics,
      changes: catalog ? diffCatalogs(running, catalog) : [],
    }));
  }

  /**
   * Write a draft to the catalog folder, only when it checks without errors; returns the check and
   * the files that were written (those whose text differs).
   */
  async publish(files: DraftFiles, running: BuiltCatalog): Promise<DraftCheck & { written: string[] }> {
    const check = await this.check(files, running);
    if (!check.ok) return { ...check, written: [] };
    const written: string[] = [];
    for (const [p, text] of checkedPaths(files)) {
      const file = join(this.folder, p);
      let old: string | undefined;
      try {
        old = readFileSync(file, 'utf8');
      } catch {
        old = undefined;
      }
      if (old === text) continue;
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
      written.push(p);
    }
    return { ...check, written };
  }

  /** `file:///…/copy/x` → `file:///…/folder/x` in texts produced from a draft copy. */
  static unmap(text: string, dir: string, folder: string): string {
    // Reports name files as URLs, absolute paths, or relative to the working directory (as the CLI
    // prints them): each form of the copy's folder becomes the same form of the real one.
    const rel = (p: string) => relative(process.cwd(), p) || '.';
    return text
      .replaceAll(pathToFileURL(dir).href, pathToFileURL(folder).href)
      .replaceAll(dir, folder)
      .replaceAll(`${rel(dir)}${sep}`, `${rel(folder)}${sep}`);
  }
}
