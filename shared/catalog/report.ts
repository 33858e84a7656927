/** Collects diagnostics while the loader works; positions come from the parsed source files. */

import { relative } from 'node:path';
import type { Diagnostic, DiagnosticCode } from './diagnostics.ts';
import type { SourceLocation } from './model.ts';
import type { SourceDoc } from './source.ts';

/** A location in a parsed file; `key: true` points at the property's key rather than its value. */
export interface Where {
  doc: SourceDoc;
  pointer: string;
  key?: boolean;
}

export class Report {
  readonly diagnostics: Diagnostic[] = [];

  error(code: DiagnosticCode, at: Where | SourceLocation, message: string, hint?: string): void {
    this.add('error', code, at, message, hint);
  }

  warning(code: DiagnosticCode, at: Where | SourceLocation, message: string, hint?: string): void {
    this.add('warning', code, at, message, hint);
  }

  add(
    severity: Diagnostic['severity'],
    code: DiagnosticCode,
    at: Where | SourceLocation,
    message: string,
    hint?: string,
  ): void {
    const loc = 'doc' in at ? locate(at) : at;
    const d: Diagnostic = { code, severity, message, ...loc };
    if (hint) d.hint = hint;
    this.diagnostics.push(d);
  }

  push(...ds: Diagnostic[]): void {
    this.diagnostics.push(...ds);
  }
}

export function locate(at: Where): SourceLocation {
  const { line, col } = at.doc.position(at.pointer, { key: at.key });
  return { file: at.doc.file, line, col, pointer: at.pointer };
}

/** A path as messages show it: relative to the working directory (where diagnostics are printed). */
export function shortPath(path: string): string {
  return relative(process.cwd(), path) || path;
}
