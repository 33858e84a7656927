/** Pure parts of the deployment plan: durations, names, secret references, fragment places. */
import { describe, expect, it } from 'vitest';
import { InvalidDurationError, parseDurationSeconds, retentionDays } from '../../infra/duration.ts';
import { constructIdFor, InvalidCatalogNameError } from '../../infra/names.ts';
import { fragmentPlace, keyAttributeType, keyFieldName } from '../../infra/plan.ts';
import { parameterArn, scanSecrets, secretArn } from '../../infra/secrets.ts';
import { fixtureCatalog } from './fixture.ts';

describe('durations', () => {
  it('parses Go-style and day units', () => {
    expect(parseDurationSeconds('720h', '/r')).toBe(720 * 3600);
    expect(parseDurationSeconds('1h30m', '/r')).toBe(5400);
    expect(parseDurationSeconds('30d', '/r')).toBe(30 * 86400);
    expect(parseDurationSeconds('1500ms', '/r')).toBe(1.5);
  });
  it('retention rounds up to whole days, at least one', () => {
    expect(retentionDays('720h', '/r')).toBe(30);
    expect(retentionDays('25h', '/r')).toBe(2);
    expect(retentionDays('10m', '/r')).toBe(1);
  });
  it('rejects junk with the location and the value', () => {
    expect(() => parseDurationSeconds('3 weeks', 'flow.yaml:3:5')).toThrow(InvalidDurationError);
    expect(() => parseDurationSeconds('0h', 'flow.yaml:3:5')).toThrow(
      /flow\.yaml:3:5: "0h" is not a duration/,
    );
  });
});

describe('construct ids', () => {
  it('are the catalog name with / as :', () => {
    expect(constructIdFor('collection', 'acmeCo/anvils/orders')).toBe('acmeCo:anvils:orders');
  });
  it('distinguish names that a --separator would merge', () => {
    expect(constructIdFor('collection', 'a/b')).not.toBe(constructIdFor('collection', 'a--b'));
  });
  it('reject a non-name', () => {
    expect(() => constructIdFor('collection', 'a b')).toThrow(InvalidCatalogNameError);
  });
});

describe('secret references', () => {
  it('finds Secrets Manager and SSM references and warns on clear or env-based credentials', () => {
    const scan = scanSecrets(
      {
        password: 'secretsmanager:prod/pg#password',
        token: 'ssm:/sluice/token',
        nested: { apiKey: 'plain-value', list: [{ secret: `\${MY_SECRET}` }] },
        user: 'flow',
        arn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf',
      },
      '/config',
    );
    expect(scan.refs).toEqual([
      { kind: 'secretsmanager', id: 'prod/pg', pointer: '/config/password' },
      { kind: 'ssm', parameter: '/sluice/token', pointer: '/config/token' },
      {
        kind: 'secretsmanager',
        id: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf',
        pointer: '/config/arn',
      },
    ]);
    expect(scan.warnings.map((w) => w.pointer)).toEqual([
      '/config/nested/apiKey',
      '/config/nested/list/0/secret',
    ]);
  });
  it('builds exact ARNs', () => {
    expect(secretArn('prod/pg', 'aws', 'eu-west-1', '1')).toBe(
      'arn:aws:secretsmanager:eu-west-1:1:secret:prod/pg-??????',
    );
    expect(secretArn('arn:aws:secretsmanager:r:1:secret:x-AbCdEf', 'aws', 'r', '1')).toBe(
      'arn:aws:secretsmanager:r:1:secret:x-AbCdEf',
    );
    expect(parameterArn('/sluice/token', 'aws', 'r', '1')).toBe('arn:aws:ssm:r:1:parameter/sluice/token');
  });
});

describe('fragment places and key attributes', () => {
  it('a mapped collection goes under the store prefix; an unmapped one to the default bucket', () => {
    const cat = fixtureCatalog();
    expect(fragmentPlace(cat, cat.collections['acme/events'])).toEqual({
      bucket: 'acme-flow-data',
      prefix: 'flow/acme/events/',
      retentionDays: 30,
    });
    expect(fragmentPlace(cat, cat.collections['other/files'])).toEqual({
      bucket: undefined,
      prefix: 'other/files/',
      retentionDays: undefined,
    });
  });
  it('key attributes follow projections and schema types (through $ref)', () => {
    const cat = fixtureCatalog();
    const totals = cat.collections['acme/totals'];
    expect(keyFieldName(totals, '/user')).toBe('user_name');
    expect(keyFieldName(totals, '/day')).toBe('day');
    expect(keyAttributeType(cat, totals, '/user')).toBe('S');
    expect(keyAttributeType(cat, totals, '/day')).toBe('N');
  });
});
