import { describe, expect, it } from 'vitest';
import { EnvError, parseEnv, streamName, streamNameFor } from '../../shared/config/env.ts';

describe('environment contract (shared/config/env.ts)', () => {
  it('defaults', () => {
    const env = parseEnv({});
    expect(env).toMatchObject({
      catalog: './catalog.json',
      prefix: 'sluice',
      stateTable: 'sluice-state',
      bucket: 'sluice-fragments',
      region: 'us-east-1',
      maxBodyBytes: 10 * 1024 * 1024,
    });
    expect(env.task).toBeUndefined();
    expect(env.view).toBe(true);
    expect(parseEnv({ SLUICE_VIEW: 'off' }).view).toBe(false);
  });
  it('parses streams and fragments maps', () => {
    const env = parseEnv({
      SLUICE_STREAMS: '{"acme/a": "stream-a"}',
      SLUICE_FRAGMENTS: '{"acme/a": "s3://bkt/flow/"}',
      SLUICE_TASK: 'acme/a',
    });
    expect(streamName(env, 'acme/a')).toBe('stream-a');
    expect(streamName(env, 'acme/b')).toBe('sluice-acme.b');
    expect(env.fragments['acme/a']).toEqual({ bucket: 'bkt', prefix: 'flow/' });
  });
  it('errors name the variable and the value', () => {
    expect(() => parseEnv({ SLUICE_STREAMS: '{nope' })).toThrow(EnvError);
    expect(() => parseEnv({ SLUICE_STREAMS: '[1]' })).toThrow(/SLUICE_STREAMS="\[1\]"/);
    expect(() => parseEnv({ SLUICE_MAX_BODY_BYTES: '-3' })).toThrow(
      /SLUICE_MAX_BODY_BYTES.*positive integer/,
    );
    expect(() => parseEnv({ SLUICE_FRAGMENTS: '{"a": "http://x"}' })).toThrow(/SLUICE_FRAGMENTS.*s3:\/\//);
    expect(() => parseEnv({ SLUICE_PREFIX: 'has space' })).toThrow(/SLUICE_PREFIX/);
    expect(() => parseEnv({ SLUICE_VIEW: 'no' })).toThrow(/SLUICE_VIEW="no".*'on' or 'off'/);
  });
  it('stream names are valid Kinesis names, deterministic, bounded at 128 characters', () => {
    expect(streamNameFor('p', 'acmeCo/anvils/orders')).toBe('p-acmeCo.anvils.orders');
    expect(streamNameFor('p', 'a/é')).toBe('p-a._');
    const long = streamNameFor('p', `x/${'y'.repeat(300)}`);
    expect(long.length).toBe(128);
    expect(long).toMatch(/^[a-zA-Z0-9_.-]+$/);
    expect(streamNameFor('p', `x/${'y'.repeat(300)}`)).toBe(long);
    expect(streamNameFor('p', `x/${'y'.repeat(301)}`)).not.toBe(long);
  });
});
