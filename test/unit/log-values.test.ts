/** Errors name keys, pointers, files and lines, never document values, unless a debug level asks. */
import { afterEach, describe, expect, it } from 'vitest';
import { valuesInErrors } from '../../shared/config/debug-values.ts';
import { SourceParseError } from '../../shared/connectors/errors.ts';
import { parseObject } from '../../shared/connectors/parsers.ts';

const saved = { ...process.env };
afterEach(() => {
  process.env.SLUICE_LOG_VALUES = saved.SLUICE_LOG_VALUES;
  process.env.POWERTOOLS_LOG_LEVEL = saved.POWERTOOLS_LOG_LEVEL;
  if (saved.SLUICE_LOG_VALUES === undefined) delete process.env.SLUICE_LOG_VALUES;
  if (saved.POWERTOOLS_LOG_LEVEL === undefined) delete process.env.POWERTOOLS_LOG_LEVEL;
});

const bad = () => {
  try {
    parseObject('in/p.jsonl', Buffer.from('{"ssn":"123-45-6789"}\n{"ssn": 987-65\n'), {
      format: 'jsonl',
      compression: 'none',
    });
  } catch (e) {
    return e as SourceParseError;
  }
  throw new Error('expected a parse error');
};

describe('document values in errors', () => {
  it('by default a bad record is named by file and line only', () => {
    delete process.env.SLUICE_LOG_VALUES;
    process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
    const err = bad();
    expect(err).toBeInstanceOf(SourceParseError);
    expect(err.message).toMatch(/^in\/p\.jsonl:2: invalid JSON/);
    expect(err.message).not.toContain('987-65');
    // JSON.parse's own message may quote the input: that snippet is dropped too.
    const quoted = (() => {
      try {
        parseObject('in/q.jsonl', Buffer.from('secret-value\n'), { format: 'jsonl', compression: 'none' });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(quoted?.message).toMatch(/^in\/q\.jsonl:1: invalid JSON/);
    expect(quoted?.message).not.toContain('secret-value');
  });

  it('SLUICE_LOG_VALUES=1 or the DEBUG log level quotes it', () => {
    process.env.SLUICE_LOG_VALUES = '1';
    expect(bad().message).toContain('{"ssn": 987-65');
    delete process.env.SLUICE_LOG_VALUES;
    process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
    expect(valuesInErrors()).toBe(true);
    expect(bad().message).toContain('987-65');
  });
});
