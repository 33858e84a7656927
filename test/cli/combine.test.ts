import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/sluice.js');
const CATALOG = join(ROOT, 'test/fixtures/combine/flow.yaml');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

const spillRoot = mkdtempSync(join(tmpdir(), 'combine-cli-'));
afterAll(() => rmSync(spillRoot, { recursive: true, force: true }));

/**
 * Runs `sluice combine`, feeding `input` to stdin in chunks (a streaming producer); `node` is what runs
 * the command before its arguments (default: `bin/sluice.js`).
 */
function combine(
  args: string[],
  input: Iterable<string | Buffer>,
  env: Record<string, string> = {},
  node: string[] = [BIN],
): Promise<Result> {
  const child = spawn(process.execPath, [...node, 'combine', ...args], {
    cwd: ROOT,
    env: { ...process.env, SLUICE_SPILL_DIR: spillRoot, ...env },
  });
  const done = outputOf(child);
  child.stdin.on('error', () => {}); // the command may exit before reading everything
  const it = input[Symbol.iterator]();
  const pump = () => {
    for (;;) {
      const next = it.next();
      if (next.done) {
        child.stdin.end();
        return;
      }
      if (!child.stdin.write(next.value)) {
        child.stdin.once('drain', pump);
        return;
      }
    }
  };
  pump();
  return done;
}

/** A spawned command's exit code and everything it wrote, once it has exited. */
function outputOf(child: ChildProcessWithoutNullStreams): Promise<Result> {
  return new Promise((resolvePromise, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

const lines = (docs: unknown[]) => [docs.map((d) => JSON.stringify(d)).join('\n') + '\n'];
const parseOut = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as unknown);

describe('sluice combine', () => {
  it('reduces JSON lines by key and writes them in key order', async () => {
    const r = await combine(
      [CATALOG, '--collection', 'acme/counts'],
      lines([
        { id: 'b', n: 1, tags: ['x'] },
        { id: 'a', n: 5, m: 3 },
        { id: 'b', n: 2, m: 7, tags: ['y'] },
        { id: 'c', n: 0 },
        { id: 'a', n: -1, m: 1 },
      ]),
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(parseOut(r.stdout)).toEqual([
      { id: 'a', n: 4, m: 3 },
      { id: 'b', n: 3, tags: ['x', 'y'], m: 7 },
      { id: 'c', n: 0 },
    ]);
  });

  it('omits documents deleted by a full reduction and skips blank lines', async () => {
    const r = await combine(
      [CATALOG, '--collection', 'acme/customers'],
      [
        '{"id":"1","name":"Ann","_meta":{"op":"c"}}\n\n',
        '{"id":"2","name":"Bob","_meta":{"op":"c"}}\r\n',
        '{"id":"1","_meta":{"op":"d"}}\n',
        '{"id":"2","name":"Bobby","_meta":{"op":"u"}}',
      ],
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(parseOut(r.stdout)).toEqual([{ id: '2', name: 'Bobby', _meta: { op: 'u' } }]);
  });

  it('reports a bad JSON line with its line number and exits 1', async () => {
    const r = await combine(
      [CATALOG, '--collection', 'acme/counts'],
      ['{"id":"a","n":1}\n', '{"id": "b", n: 2}\n'],
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^stdin:2: invalid JSON: /);
    expect(r.stdout).toBe('');
  });

  it('reports a schema violation with the line and the JSON pointer and exits 1', async () => {
    const r = await combine(
      [CATALOG, '--collection', 'acme/counts'],
      lines([{ id: 'a', n: 1 }, { id: 'a' }, { id: 'b', n: 'two' }]),
    );
    expect(r.code).toBe(1);
    // Where (line, pointer), what is allowed and what was found.
    expect(r.stderr).toMatch(/^stdin:3: \/n: must be integer, found "two" \(keyword "type"/m);
    expect(r.stdout).toBe('');
  });

  it('refuses an integer key JSON.parse would round (two keys would become one), with line and pointer, in every shard count', async () => {
    const input = ['{"id":9007199254740992,"n":1}\n{"id":9007199254740993,"n":1}\n{"id":5,"n":1}\n'];
    for (const threads of ['1', '2']) {
      const r = await combine([CATALOG, '--collection', 'acme/snowflakes'], input, {
        SLUICE_COMBINE_THREADS: threads,
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^stdin:2: \/id: the integer 9007199254740993 cannot be held exactly/);
      expect(r.stdout).toBe('');
    }
    // 2^53 itself is exact: no error.
    const exact = await combine(
      [CATALOG, '--collection', 'acme/snowflakes'],
      ['{"id":9007199254740992,"n":1}\n{"id":9007199254740992,"n":2}\n'],
    );
    expect(exact.code).toBe(0);
    expect(exact.stdout).toBe('{"id":9007199254740992,"n":3}\n');
  });

  it('reports the earliest bad line, also past the first batch of lines', async () => {
    const good = (i: number) => JSON.stringify({ id: `k${i}`, n: i });
    const first = await combine(
      [CATALOG, '--collection', 'acme/counts'],
      [`${good(1)}\n{"id":"x","n":"bad"}\n${good(2)}\nnot json\n`],
    );
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(/^stdin:2: \/n: /);
    expect(first.stderr).not.toContain('stdin:4');

    const input = Array.from({ length: 700 }, (_, i) => (i === 600 ? '{"n":1}' : good(i))).join('\n');
    const late = await combine([CATALOG, '--collection', 'acme/counts'], [`${input}\n`]);
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/^stdin:601: (\/|\(root\)): .*id/);
  });

  it('a spill folder that cannot be created: exit 1 naming it', async () => {
    const docs = Array.from({ length: 20_000 }, (_, i) => ({ id: `k${i}`, n: 1 }));
    const r = await combine([CATALOG, '--collection', 'acme/counts', '--memory', '1'], lines(docs), {
      SLUICE_SPILL_DIR: join(spillRoot, 'missing', 'deeper'),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^sluice combine: ENOENT: .*missing/);
  });

  it('stops quietly with exit 0 when the reader closes the pipe early', async () => {
    const input = Array.from({ length: 30_000 }, (_, i) => JSON.stringify({ id: `k${i}`, n: i })).join('\n');
    const result = await new Promise<{ code: number | null; stderr: string; first: string }>(
      (done, reject) => {
        const child = spawn(process.execPath, [BIN, 'combine', CATALOG, '--collection', 'acme/counts'], {
          cwd: ROOT,
        });
        let stderr = '';
        let first = '';
        child.stderr.setEncoding('utf8').on('data', (d: string) => {
          stderr += d;
        });
        child.stdout.setEncoding('utf8').once('data', (d: string) => {
          first = d;
          child.stdout.destroy(); // like `| head -1`
        });
        child.on('error', reject);
        child.on('close', (code) => done({ code, stderr, first }));
        child.stdin.end(input);
      },
    );
    expect(result.first.startsWith('{"id":"k0","n":0}\n')).toBe(true);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('documents reduced in place: a pair that cannot be combined leaves the earlier one as it was', async () => {
    // The second document is summed and appended into the first in place until /list turns out not
    // to combine (an array merged onto null): that must be undone, or n and tags would count twice.
    const r = await combine(
      [CATALOG, '--collection', 'acme/lists'],
      lines([
        { id: 'a', n: 1, tags: ['x'], list: null },
        { id: 'b', n: 10, list: [0] },
        { id: 'a', n: 2, tags: ['y'], list: [1] },
        { id: 'a', n: 4, list: [2, 3] },
        { id: 'b', n: 20, tags: ['z'], list: [5] },
      ]),
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(parseOut(r.stdout)).toEqual([
      { id: 'a', n: 7, tags: ['x', 'y'], list: [2, 3] },
      { id: 'b', n: 30, list: [5], tags: ['z'] },
    ]);
  });

  it('unknown collection: exit 2 with a did-you-mean', async () => {
    const r = await combine([CATALOG, '--collection', 'acme/count'], []);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown collection "acme/count"');
    expect(r.stderr).toContain('acme/counts');
  });

  it('invalid catalog: exit 2 with the diagnostics', async () => {
    const r = await combine(
      [join(ROOT, 'test/fixtures/combine/broken.flow.yaml'), '--collection', 'acme/broken'],
      [],
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/broken\.flow\.yaml:\d+:\d+: .*kye/);
  });

  it('bad --memory: exit 2', async () => {
    const r = await combine([CATALOG, '--collection', 'acme/counts', '--memory', 'lots'], []);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--memory');
  });

  it('streams a large input through spilled runs within a small budget, and cleans up', async () => {
    const docs = 60_000;
    const keys = 20_000;
    const expected = new Map<string, { n: number; m: number }>();
    function* input() {
      let chunk = '';
      for (let i = 0; i < docs; i++) {
        const id = `k${(i * 7919) % keys}`;
        const n = (i % 13) - 6;
        const m = (i * 31) % 1000;
        const e = expected.get(id);
        expected.set(id, e ? { n: e.n + n, m: Math.max(e.m, m) } : { n, m });
        chunk += JSON.stringify({ id, n, m }) + '\n';
        if (chunk.length > 32_768) {
          yield chunk;
          chunk = '';
        }
      }
      yield chunk;
    }
    const spill = mkdtempSync(join(spillRoot, 'big-'));
    const r = await combine([CATALOG, '--collection', 'acme/counts', '--memory', '1'], input(), {
      SLUICE_SPILL_DIR: spill,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const want = [...expected.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([id, e]) => ({ id, n: e.n, m: e.m }));
    expect(parseOut(r.stdout)).toEqual(want);
    expect(readdirSync(spill)).toEqual([]);
  });
});

describe('sluice combine over worker threads (sharded by key)', () => {
  // Float sums make the fold order visible: a shard must fold its keys in input order.
  const WORKLOAD = join(ROOT, 'bench/combine-million.ts');

  it('writes exactly what the single-threaded combiner writes, whatever the line breaks and key spellings', async () => {
    const {
      CATALOG: text,
      COLLECTION,
      clickLine,
    } = (await import(WORKLOAD)) as typeof import('../../bench/combine-million.ts');
    const { prng } = await import('../../bench/combine.ts');
    const dir = mkdtempSync(join(spillRoot, 'sharded-'));
    const catalog = join(dir, 'flow.yaml');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(catalog, text);
    const rand = prng(3);
    const breaks = ['\n', '\r\n', '\r', '\n\n', '\n  \n'];
    let input = '';
    for (let i = 0; i < 20_000; i++) {
      let line = clickLine(rand, Math.floor(rand() * 300));
      if (i % 97 === 0) line = line.replace('"user":"user-', '"user":"\\u0075ser-'); // same key, escaped
      if (i % 89 === 0) line = line.replace('{"user"', '{ "user" ');
      input += line + breaks[Math.floor(rand() * breaks.length)];
    }
    const args = [catalog, '--collection', COLLECTION];
    const one = await combine(args, [input], { SLUICE_COMBINE_THREADS: '1' });
    const three = await combine(args, [input.slice(0, 100_001), input.slice(100_001)], {
      SLUICE_COMBINE_THREADS: '3',
    });
    expect(one.stderr).toBe('');
    expect(one.code).toBe(0);
    expect(parseOut(one.stdout)).toHaveLength(300);
    expect(three).toEqual(one);
  });

  it('reads UTF-8 text exactly, a character split between input chunks included', async () => {
    const { CATALOG: text, COLLECTION } = (await import(
      WORKLOAD
    )) as typeof import('../../bench/combine-million.ts');
    const dir = mkdtempSync(join(spillRoot, 'utf8-'));
    const catalog = join(dir, 'flow.yaml');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(catalog, text);
    const ascii = `${JSON.stringify({ user: 'a', views: 1, page: '/plain' })}\n`;
    const wide = `${JSON.stringify({ user: 'a', views: 2, page: '/caf\u00e9/\u{1f600}' })}\n`;
    const bytes = Buffer.from(ascii + wide + ascii.replace('"a"', '"b"'), 'utf8');
    // Cut inside the emoji's four bytes: a chunk ends mid-character.
    const cut = bytes.indexOf(Buffer.from('\u{1f600}', 'utf8')) + 2;
    for (const threads of ['1', '2']) {
      const out = await combine(
        [catalog, '--collection', COLLECTION],
        [bytes.subarray(0, cut), bytes.subarray(cut)],
        { SLUICE_COMBINE_THREADS: threads },
      );
      expect(out.stderr).toBe('');
      expect(parseOut(out.stdout), `${threads} thread(s)`).toEqual([
        { user: 'a', views: 3, page: '/caf\u00e9/\u{1f600}' },
        { user: 'b', views: 1, page: '/plain' },
      ]);
    }
  });

  it('runs its shards from the TypeScript sources too (before a build, through tsx)', async () => {
    const input = lines([
      { id: 'b', n: 1 },
      { id: 'a', n: 2 },
      { id: 'b', n: 3 },
    ]);
    const r = await combine([CATALOG, '--collection', 'acme/counts'], input, {
      SLUICE_FROM_SOURCE: '1',
      SLUICE_COMBINE_THREADS: '2',
    });
    expect(r.stderr).toBe('');
    expect(parseOut(r.stdout)).toEqual([
      { id: 'a', n: 2 },
      { id: 'b', n: 4 },
    ]);
  });

  it('reports the earliest bad line over all shards', async () => {
    const docs = Array.from({ length: 3000 }, (_, i) => ({ id: `k${i % 50}`, n: 1 }));
    const text = lines(docs)[0].split('\n');
    text[2500] = '{"id":"k1","n":'; // invalid JSON, late
    text[1200] = JSON.stringify({ id: 'k7', n: 'not a number' }); // schema violation, earlier, another key
    const input = [text.join('\n')];
    const one = await combine([CATALOG, '--collection', 'acme/counts'], input, {
      SLUICE_COMBINE_THREADS: '1',
    });
    const four = await combine([CATALOG, '--collection', 'acme/counts'], input, {
      SLUICE_COMBINE_THREADS: '4',
    });
    expect(one.code).toBe(1);
    expect(one.stderr).toMatch(/^stdin:1201: /);
    expect(four).toEqual(one);
  });

  it('streams an output of many chunks per shard, in key order', async () => {
    // ≈ 2 MB of output: each shard sends many 64 KiB chunks, a few ahead of the merge at a time.
    const docs = Array.from({ length: 120_000 }, (_, i) => ({ id: `k${(i * 7919) % 60_000}`, n: i % 5 }));
    const args = [CATALOG, '--collection', 'acme/counts'];
    const one = await combine(args, lines(docs), { SLUICE_COMBINE_THREADS: '1' });
    const two = await combine(args, lines(docs), { SLUICE_COMBINE_THREADS: '2' });
    expect(one.code).toBe(0);
    expect(parseOut(one.stdout)).toHaveLength(60_000);
    expect(two).toEqual(one);
  });

  it('takes lines longer than an input block (512 KiB), the first one included', async () => {
    const long = (i: number) => ({ id: `k${i % 7}`, n: i, pad: 'x'.repeat(600_000 + i) });
    const docs = Array.from({ length: 40 }, (_, i) => (i % 13 === 0 ? long(i) : { id: `k${i % 7}`, n: i }));
    // Fed in 100 kB pieces: a long line arrives over several reads.
    const text = lines(docs)[0];
    const pieces = Array.from({ length: Math.ceil(text.length / 100_000) }, (_, i) =>
      text.slice(i * 100_000, (i + 1) * 100_000),
    );
    const args = [CATALOG, '--collection', 'acme/counts'];
    const one = await combine(args, pieces, { SLUICE_COMBINE_THREADS: '1' });
    const two = await combine(args, pieces, { SLUICE_COMBINE_THREADS: '2' });
    expect(one.code).toBe(0);
    expect(parseOut(one.stdout)).toHaveLength(7);
    expect(two).toEqual(one);
  });

  it('reads stdin through process.stdin when something made its descriptor non-blocking', async () => {
    // A script that touches process.stdin before running the command (as an embedding one may): for
    // a pipe that turns the descriptor non-blocking, so that reading it directly fails (EAGAIN) once
    // the pipe is empty. The second half of the input arrives after a pause, to find it empty.
    const wrapper = `process.stdin; process.argv.splice(1, 0, 'sluice'); await import(${JSON.stringify(`file://${BIN}`)});`;
    const docs = Array.from({ length: 4000 }, (_, i) => ({ id: `k${i % 30}`, n: i % 7 }));
    const text = lines(docs)[0];
    const expected = await combine([CATALOG, '--collection', 'acme/counts'], [text], {
      SLUICE_COMBINE_THREADS: '1',
    });
    expect(expected.code).toBe(0);
    for (const threads of ['1', '2']) {
      const child = spawn(
        process.execPath,
        ['--input-type=module', '-e', wrapper, 'combine', CATALOG, '--collection', 'acme/counts'],
        { cwd: ROOT, env: { ...process.env, SLUICE_COMBINE_THREADS: threads } },
      );
      const done = outputOf(child);
      const half = text.indexOf('\n', text.length >> 1) - 5; // inside a line
      child.stdin.write(text.slice(0, half));
      setTimeout(() => child.stdin.end(text.slice(half)), 1500);
      expect(await done, `${threads} thread(s)`).toEqual(expected);
    }
  });

  it('starts its workers without the Node options of the process running it', async () => {
    // As bench/combine-million.ts runs the command to measure its memory: inside `node -e`.
    const wrapper = `process.argv.splice(1, 0, 'sluice'); await import(${JSON.stringify(`file://${BIN}`)});`;
    const out = await combine(
      [CATALOG, '--collection', 'acme/counts'],
      lines([
        { id: 'b', n: 1 },
        { id: 'a', n: 2 },
        { id: 'b', n: 3 },
      ]),
      { SLUICE_COMBINE_THREADS: '2' },
      ['--input-type=module', '-e', wrapper],
    );
    expect(out).toEqual({ code: 0, stderr: '', stdout: '{"id":"a","n":2}\n{"id":"b","n":4}\n' });
  });

  it('runs single-threaded, its early-started workers stopped, when the key cannot be sharded', async () => {
    const dir = mkdtempSync(join(spillRoot, 'composite-'));
    const catalog = join(dir, 'flow.yaml');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      catalog,
      `collections:
  acme/pairs:
    key: [/a, /b]
    schema:
      type: object
      reduce: { strategy: merge }
      required: [a, b]
      properties:
        a: { type: string }
        b: { type: integer }
        n: { type: integer, reduce: { strategy: sum } }
`,
    );
    const docs = [
      { a: 'x', b: 2, n: 1 },
      { a: 'x', b: 1, n: 2 },
      { a: 'x', b: 2, n: 3 },
    ];
    const out = await combine([catalog, '--collection', 'acme/pairs'], lines(docs), {
      SLUICE_COMBINE_THREADS: '2',
    });
    expect(out).toEqual({
      code: 0,
      stderr: '',
      stdout: '{"a":"x","b":1,"n":2}\n{"a":"x","b":2,"n":4}\n',
    });
  });
});

describe('sluice combine over worker threads: spill files', () => {
  const bigInput = (docs: number) =>
    Array.from({ length: docs }, (_, i) => JSON.stringify({ id: `k${(i * 7919) % 40_000}`, n: 1 })).join(
      '\n',
    );

  it('removes every shard’s spill files when the reader closes the pipe early', async () => {
    const spill = mkdtempSync(join(spillRoot, 'epipe-'));
    const code = await new Promise<number | null>((done, reject) => {
      const child = spawn(
        process.execPath,
        [BIN, 'combine', CATALOG, '--collection', 'acme/counts', '--memory', '1'],
        { cwd: ROOT, env: { ...process.env, SLUICE_SPILL_DIR: spill, SLUICE_COMBINE_THREADS: '2' } },
      );
      child.stdout.once('data', () => child.stdout.destroy());
      child.on('error', reject);
      child.on('close', done);
      child.stdin.end(bigInput(80_000));
    });
    expect(code).toBe(0);
    expect(readdirSync(spill)).toEqual([]);
  });

  it('removes every shard’s spill files after a bad line', async () => {
    const spill = mkdtempSync(join(spillRoot, 'bad-'));
    const r = await combine(
      [CATALOG, '--collection', 'acme/counts', '--memory', '1'],
      [`${bigInput(80_000)}\n{"id":"late","n":"x"}\n`],
      { SLUICE_SPILL_DIR: spill, SLUICE_COMBINE_THREADS: '2' },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^stdin:80001: \/n: must be integer/);
    expect(readdirSync(spill)).toEqual([]);
  });
});
