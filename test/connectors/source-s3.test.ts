import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3CaptureRequest, UnknownEventError } from '../../functions/edge.ts';
import { ConnectorConfigError, ObjectLimitError, SourceParseError } from '../../shared/connectors/errors.ts';
import {
  csvRecords,
  DEFAULT_PARSE_LIMITS,
  detectDelimiter,
  parseObject,
  parseRecords,
} from '../../shared/connectors/parsers.ts';
import { S3Source } from '../../shared/connectors/source-s3.ts';
import type { Json } from '../../shared/json/types.ts';
import { capture } from './fixtures.ts';
import { type S3Env, startS3 } from './s3-support.ts';

const enc = (s: string) => new TextEncoder().encode(s);

describe('parsers', () => {
  it('CSV: header, quoting with delimiters/newlines/escaped quotes, CRLF; Estuary’s null sentinels', () => {
    const text =
      'id,name,note\r\n1,"Smith, J","said ""hi""\nthen left"\r\n2,,""\r\n3,NULL,nil\r\n4,null,Null\r\n';
    const docs = parseObject('a.csv', enc(text), { format: 'csv', compression: 'none' });
    // crates/parser character_separated CSV_NULLS: "", NULL, null and nil read as null, quoted or not.
    expect(docs).toEqual([
      { id: '1', name: 'Smith, J', note: 'said "hi"\nthen left', _meta: { file: 'a.csv', offset: 0 } },
      { id: '2', name: null, note: null, _meta: { file: 'a.csv', offset: 1 } },
      { id: '3', name: null, note: null, _meta: { file: 'a.csv', offset: 2 } },
      { id: '4', name: null, note: 'Null', _meta: { file: 'a.csv', offset: 3 } },
    ]);
  });

  it('CSV as Estuary’s parser reads it: short rows, a detected delimiter, no quoting, skipped lines, 0x1E records', () => {
    const csv = (text: string, config = {}) =>
      parseObject('f.csv', enc(text), { format: 'csv', compression: 'none', csv: config }).map(
        ({ _meta, ...d }) => d,
      );
    // A row with fewer columns than the headers leaves the missing ones out.
    expect(csv('a,b,c\n7,x\n')).toEqual([{ a: '7', b: 'x' }]);
    // No delimiter configured: detected, outside quotes, one that splits the lines alike winning over the
    // spaces of the text.
    expect(csv('a\tb\n1\tTwo words\n')).toEqual([{ a: '1', b: 'Two words' }]);
    expect(csv('name,city\nJohn Smith,New York City\n')).toEqual([
      { name: 'John Smith', city: 'New York City' },
    ]);
    expect(csv('k;v\n"x;y";2\n')).toEqual([{ k: 'x;y', v: '2' }]);
    expect(detectDelimiter('a|b|c\n1|2|3\n')).toBe('|');
    expect(csv('name\nJohn Smith\n')).toEqual([{ name: 'John Smith' }]);
    // Quoting off, Estuary's "0x09" notation of a tab, lines skipped before the header, records ended by 0x1E.
    expect(csv('a,b\n"x,y\n', { quote: '', delimiter: ',' })).toEqual([{ a: '"x', b: 'y' }]);
    expect(csv('a\tb\n1\t2\n', { delimiter: '0x09' })).toEqual([{ a: '1', b: '2' }]);
    expect(csv('exported 2026-12-01\n\na,b\n1,2\n', { skipLines: 2 })).toEqual([{ a: '1', b: '2' }]);
    expect(csv('a,b\x1E1,2\x1E3,4', { lineEnding: '\x1E' })).toEqual([
      { a: '1', b: '2' },
      { a: '3', b: '4' },
    ]);
  });

  it('JSON as Estuary’s parser reads it: a stream of values, pretty-printed or concatenated, arrays unrolled; nothing from whitespace', () => {
    const json = (file: string, text: string) =>
      parseRecords(file, enc(text), { format: 'auto', compression: 'none' }).map((r) =>
        'doc' in r ? (({ _meta, ...d }) => d)(r.doc) : r.error.message,
      );
    expect(json('p.json', '{\n  "a": 1\n}\n{\n  "a": 2\n}\n')).toEqual([{ a: 1 }, { a: 2 }]);
    expect(json('c.json', '{"a":1}{"a":2}[{"a":3},{"a":4}]')).toEqual([
      { a: 1 },
      { a: 2 },
      { a: 3 },
      { a: 4 },
    ]);
    expect(json('l.jsonl', '[{"a":1},{"a":2}]\n{"a":3}\n')).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
    expect(json('p.jsonl', '{\n "a": 1\n}\n')).toEqual([{ a: 1 }]);
    expect(json('e.json', '')).toEqual([]);
    expect(json('w.json', ' \n\t\n')).toEqual([]);
    // A bad line of JSON lines is still that record alone.
    expect(json('b.jsonl', '{"a":1}\n{"a":\n{"a":3}\n')).toEqual([
      { a: 1 },
      expect.stringMatching(/^b\.jsonl:2: invalid JSON/),
      { a: 3 },
    ]);
  });

  it('CSV: custom delimiter, quote, escape and given headers', () => {
    const recs = [...csvRecords('f', "1;'a\\'b';x\n2;c;y", { delimiter: ';', quote: "'", escape: '\\' })];
    expect(recs).toEqual([
      { fields: ['1', "a'b", 'x'], line: 1 },
      { fields: ['2', 'c', 'y'], line: 2 },
    ]);
    const docs = parseObject('t.tsv', enc('1\tx\n2\ty\n'), {
      format: 'auto',
      compression: 'none',
      csv: { delimiter: '\t', headers: ['n', 'v'] },
    });
    expect(docs.map((d) => d.v)).toEqual(['x', 'y']);
  });

  it('a CSV column named __proto__ is a plain property, and the prototype is untouched', () => {
    const docs = parseObject('p.csv', enc('__proto__,constructor,id\n{"x":1},c,1\n'), {
      format: 'csv',
      compression: 'none',
    });
    expect(Object.getPrototypeOf(docs[0])).toBe(Object.prototype);
    expect(Object.hasOwn(docs[0], '__proto__')).toBe(true);
    expect(JSON.parse(JSON.stringify(docs[0]))).toEqual(
      JSON.parse(
        '{"__proto__":"{\\"x\\":1}","constructor":"c","id":"1","_meta":{"file":"p.csv","offset":0}}',
      ),
    );
  });

  it('a bad CSV row is reported with file and line', () => {
    const text = 'a,b\n1,2\n"multi\nline",3\n4,5,6\n';
    const err = (() => {
      try {
        parseObject('data/x.csv', enc(text), { format: 'csv', compression: 'none' });
      } catch (e) {
        return e;
      }
    })() as SourceParseError;
    expect(err).toBeInstanceOf(SourceParseError);
    expect(err.file).toBe('data/x.csv');
    expect(err.line).toBe(5);
    expect(err.message).toContain('data/x.csv:5: expected at most 2 fields (a, b), found 3');
  });

  it('JSON lines and JSON arrays, gzip detected by magic bytes; a bad line names its line', () => {
    const jl = '{"a":1}\n\n{"a":2}\n';
    expect(parseObject('x.jsonl.gz', gzipSync(enc(jl)), { format: 'auto', compression: 'auto' })).toEqual([
      { a: 1, _meta: { file: 'x.jsonl.gz', offset: 0 } },
      { a: 2, _meta: { file: 'x.jsonl.gz', offset: 1 } },
    ]);
    expect(
      parseObject('x.json', enc('[{"a":1},{"a":2}]'), { format: 'json', compression: 'none' }),
    ).toHaveLength(2);
    expect(() =>
      parseObject('bad.jsonl', enc('{"a":1}\n{"a":\n'), { format: 'jsonl', compression: 'none' }),
    ).toThrow(/bad\.jsonl:2: invalid JSON/);
    expect(() =>
      parseObject('n.jsonl', enc('{"a":1}\n[1]\n'), { format: 'jsonl', compression: 'none' }),
    ).toThrow(/n\.jsonl:2: a record must be a JSON object/);
    expect(() => parseObject('g.json', enc('{"a":1}'), { format: 'json', compression: 'gzip' })).toThrow(
      /not valid gzip/,
    );
  });
});

describe('integers JSON.parse would round (shared/json/exact-integers.ts)', () => {
  it('fail their own record with file:line and pointer, in JSON lines and JSON arrays; the others parse', () => {
    const opts = { format: 'jsonl', compression: 'none' } as const;
    const lines = parseRecords(
      'ids.jsonl',
      enc('{"id":1}\n{"id":{"n":18446744073709551615}}\n{"id":3}\n'),
      opts,
    );
    expect(lines.map((r) => ('doc' in r ? r.doc.id : r.error.message))).toEqual([
      1,
      expect.stringMatching(/^ids\.jsonl:2: \/id\/n: the integer of 20 digits cannot be held exactly/),
      3,
    ]);
    const array = parseRecords('ids.json', enc('[\n{"id":1},\n{"id":9007199254740993}\n]'), {
      ...opts,
      format: 'json',
    });
    expect(array.map((r) => ('doc' in r ? r.doc.id : r.error.message))).toEqual([
      1,
      expect.stringMatching(/^ids\.json:3: \/id: the integer of 16 digits cannot be held exactly/),
    ]);
  });

  it('a number beyond a double (1e400) fails its record, not parsed as Infinity and written as null', () => {
    const opts = { format: 'jsonl', compression: 'none' } as const;
    const lines = parseRecords(
      'n.jsonl',
      enc('{"id":1,"n":1.5e308}\n{"id":2,"n":[1e400]}\n{"id":3,"s":"1e400"}\n'),
      opts,
    );
    expect(lines.map((r) => ('doc' in r ? r.doc.id : r.error.message))).toEqual([
      1,
      expect.stringMatching(/^n\.jsonl:2: \/n\/0: the number is beyond what JSON numbers hold here/),
      3,
    ]);
  });
});

describe('source-s3 against the S3 emulator', () => {
  let s3: S3Env;
  beforeAll(async () => {
    s3 = await startS3();
  });
  afterAll(async () => {
    await s3?.stop();
  });

  const cfg = (extra: Record<string, Json> = {}): Json => ({
    bucket: 'landing',
    prefix: 'in/',
    region: 'us-east-1',
    parser: { compression: 'auto' },
    ...extra,
  });

  it('rejects an unknown parser format with the allowed values', async () => {
    const err = (await S3Source.create({
      spec: capture('acme/s3', 'source-s3', cfg({ parser: { format: { type: 'xml' } } }), [{ stream: '' }]),
      blobs: s3.blobs,
    }).catch((e: unknown) => e)) as ConnectorConfigError;
    expect(err).toBeInstanceOf(ConnectorConfigError);
    expect(err.issues[0]).toEqual({
      pointer: '/parser/format/type',
      message: '"xml" is not allowed; allowed: "json", "jsonl", "csv", "auto"',
    });
  });

  it('polls new objects (JSON lines, gzip CSV, JSON), matchKeys, resumable; same object → same documents', async () => {
    const bucket = await s3.bucket('landing');
    await bucket.put('in/orders/2024/a.jsonl', enc('{"id":1}\n{"id":2}\n'));
    await bucket.put('in/orders/2024/b.csv.gz', gzipSync(enc('id,name\n3,"x, y"\n')));
    await bucket.put('in/orders/2024/c.json', enc('[{"id":4}]'));
    await bucket.put('in/orders/2024/skip.txt', enc('nope'));
    await bucket.put('in/other/d.jsonl', enc('{"id":99}\n'));
    const src = await S3Source.create({
      spec: capture('acme/s3', 'source-s3', cfg({ matchKeys: '\\.(jsonl|csv\\.gz|json)$' }), [
        { stream: 'orders/' },
      ]),
      blobs: s3.blobs,
      maxObjectsPerPoll: 2,
    });
    const p1 = await src.poll(undefined);
    expect(p1.more).toBe(true);
    const p2 = await src.poll(p1.state);
    expect(p2.more).toBe(false);
    const all = [...p1.docs, ...p2.docs].map((d) => d.doc);
    expect(all).toEqual([
      { id: 1, _meta: { file: 'landing/in/orders/2024/a.jsonl', offset: 0 } },
      { id: 2, _meta: { file: 'landing/in/orders/2024/a.jsonl', offset: 1 } },
      { id: '3', name: 'x, y', _meta: { file: 'landing/in/orders/2024/b.csv.gz', offset: 0 } },
      { id: 4, _meta: { file: 'landing/in/orders/2024/c.json', offset: 0 } },
    ]);
    expect((await src.poll(p2.state)).docs).toEqual([]);
    // a new object is picked up by a fresh instance resuming from the saved state
    await bucket.put('in/orders/2024/e.jsonl', enc('{"id":5}\n'));
    const again = await S3Source.create({
      spec: capture('acme/s3', 'source-s3', cfg({ matchKeys: '\\.(jsonl|csv\\.gz|json)$' }), [
        { stream: 'orders/' },
      ]),
      blobs: s3.blobs,
    });
    const p3 = await again.poll(JSON.parse(JSON.stringify(p2.state)) as Json);
    expect(p3.docs.map((d) => d.doc.id)).toEqual([5]);
    // an S3 notification for an object already processed yields identical documents
    const replay = await again.readObjects(['in/orders/2024/a.jsonl']);
    expect(replay.docs.map((d) => d.doc)).toEqual(all.slice(0, 2));
  });

  it("reads a binding's stream as Estuary discovers it, `<bucket>/<prefix>` (filesource path)", async () => {
    const bucket = await s3.bucket('estuary-paths');
    await bucket.put('in/orders/a.jsonl', enc('{"id":1}\n'));
    await bucket.put('in/other/b.jsonl', enc('{"id":2}\n'));
    const src = await S3Source.create({
      spec: capture('acme/paths', 'source-s3', { ...(cfg() as object), bucket: 'estuary-paths' }, [
        { stream: 'estuary-paths/in/orders/' },
      ]),
      blobs: s3.blobs,
    });
    // `_meta/file` is the object's path, bucket first (Estuary's filesource), and matchKeys is tested on it.
    expect((await src.poll(undefined)).docs.map((d) => d.doc._meta)).toEqual([
      { file: 'estuary-paths/in/orders/a.jsonl', offset: 0 },
    ]);
    expect(src.bindingOf('in/other/b.jsonl')).toBeUndefined();
    expect(src.bindingOf('in/orders/c.jsonl')).toBe(0);
    // matchKeys as Estuary applies it, to the path (bucket first); a pattern of the key alone still matches.
    const matching = async (matchKeys: string) =>
      (
        await S3Source.create({
          spec: capture(
            'acme/paths',
            'source-s3',
            { ...(cfg() as object), bucket: 'estuary-paths', matchKeys },
            [{ stream: 'estuary-paths/in/' }],
          ),
          blobs: s3.blobs,
        })
      ).bindingOf('in/orders/c.jsonl');
    expect(await matching('^estuary-paths/in/orders/')).toBe(0);
    expect(await matching('^in/orders/')).toBe(0);
    expect(await matching('^other-bucket/')).toBeUndefined();
    // An empty object holds no records (Estuary's filesource skips it); it halted the capture.
    await bucket.put('in/orders/empty.json', enc(''));
    expect(await src.readObjects(['in/orders/empty.json'])).toMatchObject({ docs: [], unread: [] });
  });

  it('ascendingKeys keeps only the last key; a bad object fails with file and line', async () => {
    const bucket = await s3.bucket('asc');
    await bucket.put('logs/001.jsonl', enc('{"n":1}\n'));
    await bucket.put('logs/002.jsonl', enc('{"n":2}\n{"n":\n'));
    const src = await S3Source.create({
      spec: capture(
        'acme/asc',
        'source-s3',
        {
          bucket: 'asc',
          prefix: 'logs/',
          parser: { format: { type: 'jsonl' } },
          advanced: { ascendingKeys: true },
        },
        [{ stream: '' }],
      ),
      blobs: s3.blobs,
      maxObjectsPerPoll: 1,
    });
    const p1 = await src.poll(undefined);
    expect(p1.state).toEqual({ after: { '': 'logs/001.jsonl' } });
    // The bad line comes back on its own, in its place (record 1), beside the object's good records.
    const p2 = await src.poll(p1.state);
    expect(p2.docs.map((d) => d.origin?.position)).toEqual(['000000000000']);
    const err = p2.unread?.[0]?.error;
    expect(p2.unread?.map((u) => [u.scope, u.origin.position])).toEqual([['record', '000000000001']]);
    expect(err).toBeInstanceOf(SourceParseError);
    expect(err?.message).toMatch(/^logs\/002\.jsonl:2: invalid JSON/);
  });

  it('an object over the per-object limit (refused before its body is read) or a gzip bomb fails the read with bucket, key and reason', async () => {
    const bucket = await s3.bucket('bounded');
    await bucket.put('in/big.jsonl', enc(`${'{"n":1}\n'.repeat(200)}`));
    const member = gzipSync(Buffer.alloc(1024 * 1024), { level: 9 });
    await bucket.put('in/bomb.jsonl.gz', Buffer.concat(Array.from({ length: 300 }, () => member)));
    const src = await S3Source.create({
      spec: capture(
        'acme/bounded',
        'source-s3',
        {
          bucket: 'bounded',
          prefix: 'in/',
          parser: { compression: 'auto' },
          advanced: { maxObjectBytes: 1000 },
        },
        [{ stream: '' }],
      ),
      blobs: s3.blobs,
    });
    const read = await src.readObjects(['in/big.jsonl']);
    expect(read.docs).toEqual([]);
    expect(read.unread?.map((u) => [u.scope, u.file, u.origin.source])).toEqual([
      ['object', 'in/big.jsonl', 'bounded/in/big.jsonl#size:1600'],
    ]);
    const big = read.unread?.[0]?.error;
    expect(big).toBeInstanceOf(ObjectLimitError);
    expect(big?.message).toBe(
      's3://bounded/in/big.jsonl: object of 1600 bytes is over 1000 bytes (advanced.maxObjectBytes)',
    );
    const defaults = await S3Source.create({
      spec: capture(
        'acme/bounded',
        'source-s3',
        { bucket: 'bounded', prefix: 'in/', parser: { compression: 'auto' } },
        [{ stream: '' }],
      ),
      blobs: s3.blobs,
    });
    const bomb = (await defaults.readObjects(['in/bomb.jsonl.gz'])).unread?.[0]?.error;
    expect(bomb).toBeInstanceOf(ObjectLimitError);
    expect(bomb?.message).toMatch(/^s3:\/\/bounded\/in\/bomb\.jsonl\.gz: decompresses to more than/);
    // A poll meets the same objects and reports them the same way, for the capture to halt at (or park
    // under `park`); the process lives.
    const polled = await src.poll(undefined);
    expect(polled.unread?.map((u) => u.error)).toEqual([
      expect.any(ObjectLimitError),
      expect.any(ObjectLimitError),
    ]);
  });
});

describe('bounded parsers (issue 10, item 5)', () => {
  /** A multi-member gzip of `mib` MiB of zeros: ~1 KB per MiB, so 300 MiB out of ~300 KB in. */
  const bomb = (mib: number): Uint8Array => {
    const member = gzipSync(Buffer.alloc(1024 * 1024), { level: 9 });
    return Buffer.concat(Array.from({ length: mib }, () => member));
  };

  it('a small gzip that inflates past the cap is an ObjectLimitError, not a crash (default limits)', () => {
    const body = bomb(300);
    expect(body.length).toBeLessThan(400 * 1024);
    const err = (() => {
      try {
        parseObject('in/bomb.jsonl.gz', body, { format: 'auto', compression: 'auto', bucket: 'drop' });
      } catch (e) {
        return e;
      }
    })() as ObjectLimitError;
    expect(err).toBeInstanceOf(ObjectLimitError);
    expect(err.bucket).toBe('drop');
    expect(err.key).toBe('in/bomb.jsonl.gz');
    expect(err.message).toBe(
      `s3://drop/in/bomb.jsonl.gz: decompresses to more than ${DEFAULT_PARSE_LIMITS.maxDecompressedBytes} bytes (advanced.maxDecompressedBytes)`,
    );
  });

  it('a line over the line cap names its line; the same line under the cap parses', () => {
    const text = `{"a":1}\n{"a":"${'x'.repeat(100)}"}\n`;
    expect(() =>
      parseObject('l.jsonl', enc(text), {
        format: 'jsonl',
        compression: 'none',
        limits: { maxLineBytes: 64 },
      }),
    ).toThrow('s3://?/l.jsonl: line 2 is longer than 64 bytes (advanced.maxLineBytes)');
    expect(
      parseObject('l.jsonl', enc(text), {
        format: 'jsonl',
        compression: 'none',
        limits: { maxLineBytes: 200 },
      }),
    ).toHaveLength(2);
    expect(() =>
      parseObject('c.csv', enc(`a\n${'y'.repeat(100)}\n`), {
        format: 'csv',
        compression: 'none',
        limits: { maxLineBytes: 64 },
      }),
    ).toThrow(/line 2 is longer than 64 bytes/);
  });
});

describe('invocation events of the deployed capture (s3CaptureRequest)', () => {
  const objectCreated = (key: string, detailType = 'Object Created') => ({
    version: '0',
    id: 'e1',
    'detail-type': detailType,
    source: 'aws.s3',
    account: '123456789012',
    time: '2026-01-01T00:00:00Z',
    region: 'us-east-1',
    resources: ['arn:aws:s3:::drop'],
    detail: {
      version: '0',
      bucket: { name: 'drop' },
      object: { key, size: 10, etag: 'x', sequencer: '00A1' },
      reason: 'PutObject',
    },
  });

  it('EventBridge "Object Created": the key as is (EventBridge does not URL-encode it)', () => {
    expect(s3CaptureRequest(objectCreated('in/day=1/a b+c.jsonl'))).toEqual({
      kind: 'objects',
      objects: [{ bucket: 'drop', key: 'in/day=1/a b+c.jsonl', sequencer: '00A1' }],
    });
    expect(s3CaptureRequest(objectCreated('in/a.jsonl', 'Object Deleted'))).toEqual({
      kind: 'objects',
      objects: [],
    });
  });

  it('an EventBridge schedule is a poll', () => {
    expect(s3CaptureRequest({ 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} })).toEqual({
      kind: 'poll',
    });
  });

  it('S3 notifications (URL-encoded keys), also inside SQS and SNS messages; test events and deletions read nothing', () => {
    const notification = {
      Records: [
        {
          eventSource: 'aws:s3',
          eventName: 'ObjectCreated:Put',
          s3: { bucket: { name: 'drop' }, object: { key: 'in/day%3D1/a+b%2Bc.jsonl', sequencer: '01' } },
        },
        {
          eventSource: 'aws:s3',
          eventName: 'ObjectRemoved:Delete',
          s3: { bucket: { name: 'drop' }, object: { key: 'in/gone.jsonl' } },
        },
      ],
    };
    const expected = {
      kind: 'objects',
      objects: [{ bucket: 'drop', key: 'in/day=1/a b+c.jsonl', sequencer: '01' }],
    };
    expect(s3CaptureRequest(notification)).toEqual(expected);
    expect(
      s3CaptureRequest({ Records: [{ eventSource: 'aws:sqs', body: JSON.stringify(notification) }] }),
    ).toEqual(expected);
    expect(
      s3CaptureRequest({
        Records: [
          { eventSource: 'aws:sqs', body: JSON.stringify(objectCreated('in/x.jsonl')) },
          { EventSource: 'aws:sns', Sns: { Message: JSON.stringify(notification) } },
        ],
      }),
    ).toEqual({
      kind: 'objects',
      objects: [{ bucket: 'drop', key: 'in/x.jsonl', sequencer: '00A1' }, ...expected.objects],
    });
    expect(s3CaptureRequest({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: 'drop' })).toEqual({
      kind: 'objects',
      objects: [],
    });
  });

  it('anything else fails naming what arrived, never a TypeError', () => {
    for (const e of [undefined, 'x', { foo: 1 }, { Records: [{ eventSource: 'aws:kinesis' }] }]) {
      const err = (() => {
        try {
          s3CaptureRequest(e);
        } catch (x) {
          return x;
        }
      })();
      expect(err).toBeInstanceOf(UnknownEventError);
    }
    expect(() => s3CaptureRequest({ foo: 1 })).toThrow(/got an object with \["foo"\]/);
  });
});
