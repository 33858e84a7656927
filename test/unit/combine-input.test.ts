// Reading `sluice combine`'s input into lines (cli/combine-input.ts): lines split across reads, every
// kind of line break, lines longer than the read buffer, UTF-8 and early stops, from a stream.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { InputReader, LineText, readLines, splitLines, splitLinesText } from '../../cli/combine-input.ts';

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

describe('splitLinesText', () => {
  it('splits latin1 text exactly as splitLines splits its bytes, at the end of the input or not', () => {
    const pieces = ['a', 'bc', '\n', '\r', '\r\n', '', 'é', '{"x":1}', '\n\n', '\r\r'];
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    for (let round = 0; round < 500; round++) {
      let text = '';
      const n = Math.floor(rand() * 12);
      for (let i = 0; i < n; i++) text += pieces[Math.floor(rand() * pieces.length)];
      const bytes = Buffer.from(text, 'utf8');
      const latin1 = bytes.toString('latin1');
      for (const eof of [false, true]) {
        const a: [number, number][] = [];
        const b: [number, number][] = [];
        const from = Math.min(Math.floor(rand() * 3), bytes.length);
        const usedA = splitLines(bytes, from, bytes.length, eof, (_, s, e) => a.push([s, e]));
        const usedB = splitLinesText(latin1, from, latin1.length, eof, (s, e) => b.push([s, e]));
        expect(b, JSON.stringify(text)).toEqual(a);
        expect(usedB).toBe(usedA);
      }
    }
  });
});
