// Reading `sluice combine`'s input into lines (cli/combine-input.ts): lines split across reads, every
// kind of line break, lines longer than the read buffer, UTF-8 and early stops, from a stream.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { InputReader, LineText, readLines } from '../../cli/combine-input.ts';

async function linesOf(chunks: (string | Buffer)[], stopAfter = Infinity): Promise<string[]> {
  const out: string[] = [];
  const text = new LineText();
  await readLines(
    new InputReader(Readable.from(chunks, { objectMode: true })),
    (buf, start, end) => {
      out.push(text.of(buf, start, end));
    },
    () => out.length >= stopAfter,
  );
  return out;
}

describe('readLines over an InputReader', () => {
  it('splits lines at every break, across chunk boundaries, a last line without a break included', async () => {
    expect(await linesOf(['a\nb', 'c\r', '\nd\re\n\n', 'f\r', 'g', '\r\nlast'])).toEqual([
      'a',
      'bc',
      'd',
      'e',
      '',
      'f',
      'g',
      'last',
    ]);
  });

  it('takes lines longer than its read buffer, and chunks larger than it', async () => {
    const long = 'x'.repeat(700_000);
    const big = `${long}\nshort\n${'y'.repeat(300_000)}`;
    expect(await linesOf([big.slice(0, 5), big.slice(5, 600_000), big.slice(600_000)])).toEqual([
      long,
      'short',
      'y'.repeat(300_000),
    ]);
  });

  it('decodes UTF-8, a character split between chunks included', async () => {
    const bytes = Buffer.from('plain\ncafé 😀\nplain again\n', 'utf8');
    const cut = bytes.indexOf(Buffer.from('😀', 'utf8')) + 2;
    expect(await linesOf([bytes.subarray(0, cut), bytes.subarray(cut)])).toEqual([
      'plain',
      'café 😀',
      'plain again',
    ]);
  });

  it('stops reading when asked to, releasing the stream', async () => {
    let pulled = 0;
    function* chunks() {
      for (let i = 0; i < 100; i++) {
        pulled++;
        yield `${i}\n`;
      }
    }
    const stream = Readable.from(chunks(), { objectMode: true });
    const out: string[] = [];
    const text = new LineText();
    await readLines(
      new InputReader(stream),
      (buf, start, end) => {
        out.push(text.of(buf, start, end));
      },
      () => out.length >= 3,
    );
    expect(out).toEqual(['0', '1', '2']);
    expect(pulled).toBeLessThan(100);
    expect(stream.destroyed).toBe(true);
  });
});
