/**
 * Static inspection of a TypeScript derivation module: the methods of its exported
 * `class Derivation`, found by parsing with the TypeScript compiler API, never by running it.
 */
import { createRequire } from 'node:module';
import { contentKey, readCached, writeCached } from '../cache/content-cache.ts';
import type { Position } from './source.ts';

export interface DerivationClass {
  /** Instance methods (and function-valued properties) by name, with where each is declared. */
  methods: Map<string, Position>;
  /** Those of `methods` declared `private` or `protected`: helpers, not transforms. */
  helpers: Set<string>;
  /** Where the class is declared. */
  at: Position;
  /**
   * It keeps state (Estuary's convention): it has `startCommit`, or a constructor taking `open` (whose
   * `state` is the committed state).
   */
  stateful: boolean;
}

export type ModuleInspection =
  | { kind: 'ok'; derivation: DerivationClass }
  | { kind: 'noDerivation'; exported: string[] }
  | { kind: 'noCompiler'; reason: string };

type TS = typeof import('typescript');
let compiler: TS | null | undefined;

/**
 * The TypeScript compiler, loaded on first use; undefined when not installed. Loaded with require, not
 * import(): import() of a CommonJS module first scans its 9 MB source for named exports (≈ 170 ms more).
 */
function loadCompiler(): TS | undefined {
  if (compiler === undefined) {
    try {
      compiler = createRequire(import.meta.url)('typescript') as TS;
    } catch {
      compiler = null;
    }
  }
  return compiler ?? undefined;
}

/** Bump when inspectDerivationModule's result for the same text may change. */
const INSPECTION_VERSION = 'derivation-class-2';

/** How an inspection is stored in the content cache (Maps and Sets as entry arrays). */
interface StoredInspection {
  kind: 'ok' | 'noDerivation';
  exported?: string[];
  methods?: [string, Position][];
  helpers?: string[];
  at?: Position;
  stateful?: boolean;
}

/** Methods that the runtime calls itself, which no transform needs to use. */
export const LIFECYCLE_METHODS: ReadonlySet<string> = new Set([
  'constructor',
  'flush',
  'reset',
  'startCommit',
]);

/**
 * Inspects a module's text. The result depends only on the text, so it is cached by its content hash
 * (shared/cache): `sluice check` and `sluice test` on an unchanged module never load the compiler.
 */
export async function inspectDerivationModule(file: string, text: string): Promise<ModuleInspection> {
  const key = contentKey(INSPECTION_VERSION, text);
  const cached = readCached('module-inspection', key);
  if (cached !== undefined) {
    const s = JSON.parse(cached) as StoredInspection;
    if (s.kind === 'noDerivation') return { kind: 'noDerivation', exported: s.exported ?? [] };
    return {
      kind: 'ok',
      derivation: {
        methods: new Map(s.methods),
        helpers: new Set(s.helpers),
        at: s.at!,
        stateful: s.stateful === true,
      },
    };
  }
  const result = inspectWithCompiler(file, text);
  if (result.kind !== 'noCompiler') {
    const stored: StoredInspection =
      result.kind === 'noDerivation'
        ? { kind: 'noDerivation', exported: result.exported }
        : {
            kind: 'ok',
            methods: [...result.derivation.methods],
            helpers: [...result.derivation.helpers],
            at: result.derivation.at,
            stateful: result.derivation.stateful,
          };
    writeCached('module-inspection', key, JSON.stringify(stored));
  }
  return result;
}

function inspectWithCompiler(file: string, text: string): ModuleInspection {
  const ts = loadCompiler();
  if (!ts) return { kind: 'noCompiler', reason: 'the `typescript` package is not installed' };
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const pos = (node: import('typescript').Node): Position => {
    const lc = sf.getLineAndCharacterOfPosition(node.getStart(sf));
    return { line: lc.line + 1, col: lc.character + 1 };
  };

  const classes = new Map<string, import('typescript').ClassDeclaration>();
  const exported = new Map<string, string>(); // exported name -> local name
  for (const st of sf.statements) {
    if (ts.isClassDeclaration(st) && st.name) {
      classes.set(st.name.text, st);
      const mods = ts.canHaveModifiers(st) ? ts.getModifiers(st) : undefined;
      if (mods?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) exported.set(st.name.text, st.name.text);
    } else if (ts.isExportDeclaration(st) && !st.moduleSpecifier && st.exportClause) {
      if (ts.isNamedExports(st.exportClause)) {
        for (const el of st.exportClause.elements) {
          exported.set(el.name.text, (el.propertyName ?? el.name).text);
        }
      }
    } else if (ts.isVariableStatement(st)) {
      const mods = ts.getModifiers(st);
      if (mods?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) {
        for (const d of st.declarationList.declarations)
          if (ts.isIdentifier(d.name)) exported.set(d.name.text, '');
      }
    } else if (ts.isFunctionDeclaration(st) && st.name) {
      const mods = ts.getModifiers(st);
      if (mods?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) exported.set(st.name.text, '');
    }
  }

  const cls = classes.get(exported.get('Derivation') ?? '');
  if (!cls) return { kind: 'noDerivation', exported: [...exported.keys()] };

  const methods = new Map<string, Position>();
  const helpers = new Set<string>();
  let takesOpen = false;
  const seen = new Set<import('typescript').ClassDeclaration>();
  // Methods of the class and of local base classes it extends (a generated IDerivation is abstract:
  // its abstract methods are declarations to implement, not implementations).
  for (let c: import('typescript').ClassDeclaration | undefined = cls; c && !seen.has(c); ) {
    seen.add(c);
    for (const m of c.members) {
      if (ts.isConstructorDeclaration(m) && m.parameters.length > 0) takesOpen = true;
      const mods = ts.canHaveModifiers(m) ? ts.getModifiers(m) : undefined;
      if (
        mods?.some((x) => x.kind === ts.SyntaxKind.StaticKeyword || x.kind === ts.SyntaxKind.AbstractKeyword)
      )
        continue;
      if (!m.name || !(ts.isIdentifier(m.name) || ts.isStringLiteral(m.name))) continue;
      const isMethod = ts.isMethodDeclaration(m) && m.body !== undefined;
      const isFnProp =
        ts.isPropertyDeclaration(m) &&
        m.initializer !== undefined &&
        (ts.isArrowFunction(m.initializer) || ts.isFunctionExpression(m.initializer));
      if ((isMethod || isFnProp) && !methods.has(m.name.text)) {
        methods.set(m.name.text, pos(m.name));
        const hidden = [ts.SyntaxKind.PrivateKeyword, ts.SyntaxKind.ProtectedKeyword];
        if (mods?.some((x) => hidden.includes(x.kind))) helpers.add(m.name.text);
      }
    }
    const base: import('typescript').Expression | undefined = c.heritageClauses?.find(
      (h) => h.token === ts.SyntaxKind.ExtendsKeyword,
    )?.types[0]?.expression;
    c = base && ts.isIdentifier(base) ? classes.get(base.text) : undefined;
  }
  const stateful = takesOpen || methods.has('startCommit');
  return { kind: 'ok', derivation: { methods, helpers, at: pos(cls.name ?? cls), stateful } };
}
