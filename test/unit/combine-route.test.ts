// Routing JSON lines to combiner shards by a byte scan of the key (shared/combine/route.ts): every
// spelling of one key must reach the same shard, or the sharded `sluice combine` would split a key.
import { describe, expect, it } from 'vitest';
import { KeyRouter } from '../../shared/combine/route.ts';

const router = new KeyRouter('user', 1 << 20);
const shard = (line: string) => {
  const b = Buffer.from(line, 'utf8');
  return router.shardOf(b, 0, b.length);
};

describe('KeyRouter', () => {
  it('sends every spelling of one string key to one shard', () => {
    const ab = shard('{"user":"ab","n":1}');
    expect(ab).not.toBe(0);
    for (const line of [
      '{"n":2,"user":"ab"}',
      '  { "user" : "ab" , "n" : 3 }  ',
      '{"user":"a\\u0062"}', // escaped value
      '{"us\\u0065r":"ab"}', // escaped property name
      '{"x":{"user":"zz"},"user":"ab"}', // a nested property of that name is not the key
      '{"x":["user","zz"],"user":"ab"}',
      '{"s":"\\"user\\":\\"zz\\"","user":"ab"}', // nor is text inside a string
      '{"user":"zz","user":"ab"}', // a duplicate: the last one counts, as in JSON.parse
      '{"user":"zz","us\\u0065r":"ab"}', // an escaped duplicate, after a key written first
      '{"user":"ab","x":{"user":"zz"}}', // a nested property of that name after the key
    ]) {
      expect(shard(line), line).toBe(ab);
    }
    expect(shard('{"user":"ab "}')).not.toBe(ab);
  });

  it('sends equal numbers to one shard whatever their spelling, and distinguishes "1" from 1', () => {
    const one = shard('{"user":1}');
    expect(shard('{"user":1.0}')).toBe(one);
    expect(shard('{"user":1e0,"n":5}')).toBe(one);
    expect(shard('{"user":"1"}')).not.toBe(one);
    expect(shard('{"user":-0}')).toBe(shard('{"user":0}'));
  });

  it('sends what has no scalar key to shard 0', () => {
    for (const line of [
      '',
      '   ',
      '[1,2]',
      '{"x":{"user":"ab"}}',
      '{"user":{"a":1}}',
      '{"user":"ab',
      'not json',
    ]) {
      expect(shard(line), line).toBe(0);
    }
  });

  it('spreads keys over the shards', () => {
    const r = new KeyRouter('user', 4);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) {
      const b = Buffer.from(JSON.stringify({ user: `user-${i}`, n: i }));
      counts[r.shardOf(b, 0, b.length)]++;
    }
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });

  it('routes the lines of one buffer in order as a single line each, also while the buffer is filled', () => {
    const lines = [
      '{"user":"ab","n":1}',
      '{"user":"zz","us\\u0065r":"ab"}', // an escaped duplicate: found past the first line's scan
      '{"user":"ab","s":"x"}',
      '{"user":"zz","user":"ab"}',
      '{"user":"a\\u0062"}',
      '{"user":"ab"}',
    ];
    const ab = shard(lines[0]);
    const text = Buffer.from(lines.join('\n'), 'utf8');
    // All the data there at once.
    let start = 0;
    for (const line of lines) {
      const end = start + Buffer.byteLength(line);
      expect(router.shardOf(text, start, end), line).toBe(ab);
      start = end + 1;
    }
    // The same buffer filled line by line (zeros past the data, as in a fresh block): a backslash
    // written after an earlier line was routed is still seen.
    const filling = Buffer.alloc(text.length);
    start = 0;
    for (const line of lines) {
      const end = start + Buffer.byteLength(line);
      text.copy(filling, start, start, Math.min(end + 1, text.length));
      expect(router.shardOf(filling, start, end, end), line).toBe(ab);
      start = end + 1;
    }
  });

  it('routes lines given as latin1 text to the shard their bytes go to', () => {
    const r = new KeyRouter('user', 7);
    const lines: string[] = [];
    for (let i = 0; i < 300; i++) lines.push(JSON.stringify({ user: `user-${i}`, n: i, page: `/p/${i}` }));
    lines.push(
      '{"user":"ab","n":1}',
      '{"user":"zz","us\\u0065r":"ab"}', // an escaped duplicate
      '{"user":"ab","s":"x\\"y"}', // a backslash after the key
      '{"user":"a\\u0062"}', // in the key
      '{"user":"zz","user":"ab"}', // a duplicate
      '{"user":"ab","page":"/user"}', // the name inside a value
      '{"user":"café 😀","n":1}', // UTF-8: several characters of the text per character
      '{"user":"é"}',
      '{"n":2,"user":"ab"}', // the key not first
      '  { "user" : "ab" }',
      '{"user":1.0}',
      '{"user":"ab',
      '',
      'not json',
      '{"user":"x","user"',
    );
    const bytes = Buffer.from(lines.join('\n'), 'utf8');
    // In a larger buffer, the text decoded from an offset in it, as the sharded feed does.
    const buf = Buffer.concat([Buffer.from('{"user":"before"}\n'), bytes]);
    const offset = buf.length - bytes.length;
    r.setText(buf.toString('latin1', offset), buf, offset, buf.length);
    let start = 0;
    for (const line of lines) {
      const end = start + Buffer.byteLength(line);
      expect(r.shardOfLine(start, end), line).toBe(r.shardOf(buf, offset + start, offset + end));
      start = end + 1;
    }
    const counts = new Set(
      lines.slice(0, 300).map((_, i) => r.shardOf(Buffer.from(lines[i]), 0, lines[i].length)),
    );
    expect(counts.size).toBe(7);
  });
});
