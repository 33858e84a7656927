import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../shared/errors.ts';
import { JournalError } from '../../shared/ports/journal.ts';
import { ReduceError } from '../../shared/reduce/errors.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => join(e.parentPath, e.name));
}

describe('one error base class', () => {
  it('Sluice errors are SluiceErrors and keep their own names and codes', () => {
    const j = new JournalError('AppendFailed', 'acme/x', 'boom');
    expect(j).toBeInstanceOf(SluiceError);
    expect(j).toBeInstanceOf(Error);
    expect(j.name).toBe('JournalError');
    expect(j.code).toBe('AppendFailed');
    expect(Object.getPrototypeOf(ReduceError.prototype)).toBe(SluiceError.prototype);
  });

  it('no error class in the engine, functions, infra, CLI or console extends Error directly', () => {
    const direct = ['shared', 'functions', 'infra', 'cli', 'console']
      .flatMap(sources)
      .filter((f) => !f.endsWith(join('shared', 'errors.ts')))
      .filter((f) => /class \w+ extends Error\b/.test(readFileSync(f, 'utf8')));
    expect(direct).toEqual([]);
  });
});
