import { describe, expect, it } from 'vitest';
import {
  evaluatePolicies,
  type IamRequest,
  type PolicyDocument,
  PolicyError,
  type PolicyStatement,
} from '../../shared/local/iam/policy.ts';

const TABLE = 'arn:aws:dynamodb:us-east-1:000000000000:table/T';
const STREAM = 'arn:aws:kinesis:us-east-1:000000000000:stream/s';

const doc = (...Statement: PolicyStatement[]): PolicyDocument => ({ Version: '2012-10-17', Statement });
const allow = (extra: Omit<PolicyStatement, 'Effect'>): PolicyStatement => ({ Effect: 'Allow', ...extra });

function effect(policies: PolicyDocument[], req: IamRequest) {
  return evaluatePolicies(policies, req).effect;
}

/** Whether a lone Allow statement on `*` with this Condition block allows a request with this context. */
function cond(condition: PolicyStatement['Condition'], context: IamRequest['context']): boolean {
  const d = evaluatePolicies([doc(allow({ Action: '*', Resource: '*', Condition: condition }))], {
    action: 's3:GetObject',
    resource: 'arn:aws:s3:::b/k',
    context,
  });
  return d.effect === 'allow';
}

describe('IAM policy evaluation: order', () => {
  const get = allow({ Sid: 'Get', Action: 's3:GetObject', Resource: 'arn:aws:s3:::b/*' });
  const deny: PolicyStatement = {
    Sid: 'NoSecrets',
    Effect: 'Deny',
    Action: 's3:*',
    Resource: 'arn:aws:s3:::b/secret/*',
  };

  it('allows when a statement allows, and names the statement', () => {
    const d = evaluatePolicies([doc(get)], { action: 's3:GetObject', resource: 'arn:aws:s3:::b/x' });
    expect(d).toEqual({ effect: 'allow', statement: get });
  });

  it('denies implicitly when nothing allows (other action, other resource, no policies)', () => {
    expect(effect([doc(get)], { action: 's3:PutObject', resource: 'arn:aws:s3:::b/x' })).toBe(
      'implicit-deny',
    );
    expect(effect([doc(get)], { action: 's3:GetObject', resource: 'arn:aws:s3:::c/x' })).toBe(
      'implicit-deny',
    );
    expect(effect([], { action: 's3:GetObject', resource: 'arn:aws:s3:::b/x' })).toBe('implicit-deny');
  });

  it('an explicit Deny beats an Allow, whichever policy or position it is in', () => {
    const req = { action: 's3:GetObject', resource: 'arn:aws:s3:::b/secret/k' };
    expect(evaluatePolicies([doc(get, deny)], req)).toEqual({ effect: 'explicit-deny', statement: deny });
    expect(evaluatePolicies([doc(deny), doc(get)], req)).toEqual({
      effect: 'explicit-deny',
      statement: deny,
    });
    expect(
      effect([doc(get), doc(deny)], { action: 's3:GetObject', resource: 'arn:aws:s3:::b/public/k' }),
    ).toBe('allow');
  });

  it('a Deny whose condition fails does not deny', () => {
    const conditional: PolicyStatement = { ...deny, Condition: { Bool: { 'aws:SecureTransport': 'false' } } };
    const req = { action: 's3:GetObject', resource: 'arn:aws:s3:::b/secret/k' };
    expect(effect([doc(get, conditional)], { ...req, context: { 'aws:SecureTransport': true } })).toBe(
      'allow',
    );
    expect(effect([doc(get, conditional)], { ...req, context: { 'aws:SecureTransport': false } })).toBe(
      'explicit-deny',
    );
  });

  it('accepts a single Statement object as well as a list', () => {
    const single: PolicyDocument = { Statement: get };
    expect(effect([single], { action: 's3:GetObject', resource: 'arn:aws:s3:::b/x' })).toBe('allow');
  });
});

describe('IAM policy evaluation: Action and Resource', () => {
  const req = (action: string, resource = STREAM): IamRequest => ({ action, resource });
  const with_ = (Action: string | string[], Resource: string | string[] = '*') => [
    doc(allow({ Action, Resource })),
  ];

  it('matches actions case-insensitively with * and ? anywhere, service prefix included', () => {
    expect(effect(with_('kinesis:PutRecords'), req('kinesis:putrecords'))).toBe('allow');
    expect(effect(with_('KINESIS:putRecords'), req('kinesis:PutRecords'))).toBe('allow');
    expect(effect(with_('kinesis:Put*'), req('kinesis:PutRecord'))).toBe('allow');
    expect(effect(with_('kinesis:Put*'), req('kinesis:GetRecords'))).toBe('implicit-deny');
    expect(effect(with_('kinesis:PutRecord?'), req('kinesis:PutRecords'))).toBe('allow');
    expect(effect(with_('kinesis:PutRecord?'), req('kinesis:PutRecord'))).toBe('implicit-deny');
    expect(effect(with_('kin*:Describe*'), req('kinesis:DescribeStreamSummary'))).toBe('allow');
    expect(effect(with_('*'), req('dynamodb:DeleteTable'))).toBe('allow');
    expect(effect(with_(['s3:GetObject', 'kinesis:*']), req('kinesis:ListShards'))).toBe('allow');
    // A wildcard does not make the rest of the pattern optional, nor match a different service.
    expect(effect(with_('s3:Get*'), req('s3x:GetObject'))).toBe('implicit-deny');
    expect(effect(with_('s3:GetObject'), req('s3:GetObjectTagging'))).toBe('implicit-deny');
  });

  it('matches resources case-sensitively with wildcards, per ARN segment, and * alone matches anything', () => {
    const get = (r: string | string[], resource: string) =>
      effect(with_('s3:GetObject', r), { action: 's3:GetObject', resource });
    expect(get('arn:aws:s3:::b/acme/*', 'arn:aws:s3:::b/acme/x/y.json')).toBe('allow');
    expect(get('arn:aws:s3:::b/acme/*', 'arn:aws:s3:::b/ACME/x')).toBe('implicit-deny');
    expect(get('arn:aws:s3:::b/?.json', 'arn:aws:s3:::b/a.json')).toBe('allow');
    expect(get('arn:aws:s3:::b/?.json', 'arn:aws:s3:::b/ab.json')).toBe('implicit-deny');
    expect(get('*', 'anything at all')).toBe('allow');
    expect(get('arn:aws:s3:::*', '*')).toBe('implicit-deny');
    expect(get(['arn:aws:s3:::x/*', 'arn:aws:s3:::b/k'], 'arn:aws:s3:::b/k')).toBe('allow');
    // Dots and other regex characters in ARNs are literal.
    expect(get('arn:aws:s3:::my.bucket/k', 'arn:aws:s3:::myXbucket/k')).toBe('implicit-deny');
    // Wildcards in region/account segments; a * cannot swallow the colons between segments.
    const any = (r: string, resource: string) =>
      effect(with_('*', r), { action: 'kinesis:PutRecord', resource });
    expect(any('arn:aws:kinesis:*:*:stream/s', STREAM)).toBe('allow');
    expect(any('arn:aws:*:us-east-1:000000000000:stream/s', STREAM)).toBe('allow');
    expect(any('arn:aws:logs:*:log-group:g:*', 'arn:aws:logs:us-east-1:1:log-group:g:x')).toBe(
      'implicit-deny',
    );
    // The resource segment keeps its own colons.
    expect(any('arn:aws:logs:*:*:log-group:g:*', 'arn:aws:logs:us-east-1:1:log-group:g:log-stream:x')).toBe(
      'allow',
    );
  });

  it('NotAction applies the statement to every other action', () => {
    const p = [doc(allow({ NotAction: ['dynamodb:Delete*', 'dynamodb:Scan'], Resource: TABLE }))];
    expect(effect(p, { action: 'dynamodb:GetItem', resource: TABLE })).toBe('allow');
    expect(effect(p, { action: 'dynamodb:DeleteItem', resource: TABLE })).toBe('implicit-deny');
    expect(effect(p, { action: 'dynamodb:scan', resource: TABLE })).toBe('implicit-deny');
    // NotAction with Deny: everything except reads is denied.
    const guard = [
      doc(allow({ Action: '*', Resource: '*' }), { Effect: 'Deny', NotAction: 's3:Get*', Resource: '*' }),
    ];
    expect(effect(guard, { action: 's3:GetObject', resource: 'arn:aws:s3:::b/k' })).toBe('allow');
    expect(effect(guard, { action: 's3:PutObject', resource: 'arn:aws:s3:::b/k' })).toBe('explicit-deny');
  });

  it('NotResource applies the statement to every other resource', () => {
    const p = [
      doc(allow({ Action: 's3:*', Resource: '*' }), {
        Effect: 'Deny',
        Action: 's3:*',
        NotResource: ['arn:aws:s3:::b', 'arn:aws:s3:::b/*'],
      }),
    ];
    expect(effect(p, { action: 's3:GetObject', resource: 'arn:aws:s3:::b/k' })).toBe('allow');
    expect(effect(p, { action: 's3:ListBucket', resource: 'arn:aws:s3:::b' })).toBe('allow');
    expect(effect(p, { action: 's3:GetObject', resource: 'arn:aws:s3:::other/k' })).toBe('explicit-deny');
  });
});

describe('IAM policy evaluation: condition operators', () => {
  it('StringEquals / StringNotEquals: exact, case-sensitive; several values OR (NOR when negated)', () => {
    expect(cond({ StringEquals: { k: 'a' } }, { k: 'a' })).toBe(true);
    expect(cond({ StringEquals: { k: 'a' } }, { k: 'A' })).toBe(false);
    expect(cond({ StringEquals: { k: ['a', 'b'] } }, { k: 'b' })).toBe(true);
    expect(cond({ StringEquals: { k: 'a*' } }, { k: 'ab' })).toBe(false);
    expect(cond({ StringNotEquals: { k: ['a', 'b'] } }, { k: 'c' })).toBe(true);
    expect(cond({ StringNotEquals: { k: ['a', 'b'] } }, { k: 'b' })).toBe(false);
  });

  it('StringEqualsIgnoreCase / StringNotEqualsIgnoreCase', () => {
    expect(cond({ StringEqualsIgnoreCase: { k: 'Acme' } }, { k: 'aCME' })).toBe(true);
    expect(cond({ StringEqualsIgnoreCase: { k: 'Acme' } }, { k: 'acm' })).toBe(false);
    expect(cond({ StringNotEqualsIgnoreCase: { k: 'Acme' } }, { k: 'ACME' })).toBe(false);
    expect(cond({ StringNotEqualsIgnoreCase: { k: 'Acme' } }, { k: 'other' })).toBe(true);
  });

  it('StringLike / StringNotLike: * and ?, case-sensitive, whole string', () => {
    expect(cond({ StringLike: { k: 'acme/*' } }, { k: 'acme/events/x' })).toBe(true);
    expect(cond({ StringLike: { k: 'acme/*' } }, { k: 'Acme/events' })).toBe(false);
    expect(cond({ StringLike: { k: 'a?c' } }, { k: 'abc' })).toBe(true);
    expect(cond({ StringLike: { k: 'a?c' } }, { k: 'abbc' })).toBe(false);
    expect(cond({ StringLike: { k: 'acme' } }, { k: 'acme/x' })).toBe(false);
    expect(cond({ StringNotLike: { k: ['tmp/*', 'x*'] } }, { k: 'acme/1' })).toBe(true);
    expect(cond({ StringNotLike: { k: ['tmp/*', 'x*'] } }, { k: 'tmp/1' })).toBe(false);
  });

  it('ArnEquals / ArnLike / ArnNotEquals / ArnNotLike: per-segment wildcards', () => {
    const k = 'aws:SourceArn';
    expect(cond({ ArnLike: { [k]: 'arn:aws:kinesis:*:000000000000:stream/*' } }, { [k]: STREAM })).toBe(true);
    expect(cond({ ArnEquals: { [k]: STREAM } }, { [k]: STREAM })).toBe(true);
    expect(cond({ ArnEquals: { [k]: 'arn:aws:kinesis:us-east-1:*:stream/s' } }, { [k]: STREAM })).toBe(true);
    expect(cond({ ArnLike: { [k]: 'arn:aws:kinesis:us-east-1:*' } }, { [k]: STREAM })).toBe(false);
    expect(cond({ ArnLike: { [k]: 'arn:aws:kinesis:*:*:stream/s' } }, { [k]: 'not-an-arn' })).toBe(false);
    expect(cond({ ArnNotEquals: { [k]: STREAM } }, { [k]: STREAM })).toBe(false);
    expect(cond({ ArnNotLike: { [k]: 'arn:aws:s3:::*' } }, { [k]: STREAM })).toBe(true);
    expect(cond({ ArnNotLike: { [k]: 'arn:aws:kinesis:*:*:stream/*' } }, { [k]: STREAM })).toBe(false);
  });

  it('Bool compares true/false, policy values as strings or JSON booleans', () => {
    expect(cond({ Bool: { 'aws:SecureTransport': 'true' } }, { 'aws:SecureTransport': true })).toBe(true);
    expect(cond({ Bool: { 'aws:SecureTransport': true } }, { 'aws:SecureTransport': 'true' })).toBe(true);
    expect(cond({ Bool: { 'aws:SecureTransport': 'true' } }, { 'aws:SecureTransport': false })).toBe(false);
    expect(cond({ Bool: { 'aws:SecureTransport': 'False' } }, { 'aws:SecureTransport': false })).toBe(true);
  });

  it('Numeric operators compare numbers, not strings', () => {
    const n = (op: string, policy: string | number, req: string | number) =>
      cond({ [op]: { 's3:max-keys': policy } }, { 's3:max-keys': req });
    expect(n('NumericEquals', '10', 10)).toBe(true);
    expect(n('NumericEquals', 10, '10.0')).toBe(true);
    expect(n('NumericEquals', '10', 11)).toBe(false);
    expect(n('NumericNotEquals', '10', 11)).toBe(true);
    expect(n('NumericNotEquals', '10', 10)).toBe(false);
    expect(n('NumericLessThan', '10', 9)).toBe(true);
    expect(n('NumericLessThan', '10', 10)).toBe(false);
    expect(n('NumericLessThanEquals', '10', 10)).toBe(true);
    expect(n('NumericLessThanEquals', '10', '9')).toBe(true);
    expect(n('NumericLessThanEquals', '10', '100')).toBe(false); // "100" < "10" as strings would pass
    expect(n('NumericGreaterThan', '10', 11)).toBe(true);
    expect(n('NumericGreaterThan', '10', 10)).toBe(false);
    expect(n('NumericGreaterThanEquals', '10', 10)).toBe(true);
    expect(n('NumericGreaterThanEquals', '10', 9)).toBe(false);
    // A request value that is not a number matches nothing, negated or not.
    expect(n('NumericEquals', '10', 'ten')).toBe(false);
    expect(n('NumericNotEquals', '10', 'ten')).toBe(false);
  });

  it('Date, BinaryEquals and IpAddress/NotIpAddress', () => {
    const t = 'aws:CurrentTime';
    expect(cond({ DateLessThan: { [t]: '2030-01-01T00:00:00Z' } }, { [t]: '2026-05-01T12:00:00Z' })).toBe(
      true,
    );
    expect(cond({ DateGreaterThan: { [t]: '2030-01-01' } }, { [t]: '2026-05-01T12:00:00Z' })).toBe(false);
    expect(cond({ DateEquals: { 'aws:EpochTime': '1700000000' } }, { 'aws:EpochTime': 1700000000 })).toBe(
      true,
    );
    expect(cond({ BinaryEquals: { k: 'QmluYXJ5' } }, { k: 'QmluYXJ5' })).toBe(true);
    expect(cond({ BinaryEquals: { k: 'QmluYXJ5' } }, { k: 'QmluYXJ6' })).toBe(false);
    const ip = 'aws:SourceIp';
    expect(cond({ IpAddress: { [ip]: '127.0.0.0/8' } }, { [ip]: '127.0.0.1' })).toBe(true);
    expect(cond({ IpAddress: { [ip]: ['10.0.0.0/8', '::1/128'] } }, { [ip]: '::1' })).toBe(true);
    expect(cond({ IpAddress: { [ip]: '10.0.0.0/8' } }, { [ip]: '127.0.0.1' })).toBe(false);
    expect(cond({ NotIpAddress: { [ip]: '10.0.0.0/8' } }, { [ip]: '127.0.0.1' })).toBe(true);
    expect(cond({ NotIpAddress: { [ip]: '127.0.0.1' } }, { [ip]: '127.0.0.1' })).toBe(false);
  });

  it('a missing key: plain operators false, negated operators true', () => {
    expect(cond({ StringEquals: { k: 'a' } }, {})).toBe(false);
    expect(cond({ StringLike: { k: '*' } }, {})).toBe(false);
    expect(cond({ NumericLessThan: { k: '10' } }, {})).toBe(false);
    expect(cond({ Bool: { k: 'false' } }, {})).toBe(false);
    expect(cond({ ArnLike: { k: '*' } }, {})).toBe(false);
    expect(cond({ StringNotEquals: { k: 'a' } }, {})).toBe(true);
    expect(cond({ StringNotLike: { k: 'a*' } }, { k: undefined })).toBe(true);
    expect(cond({ ArnNotLike: { k: 'arn:aws:s3:::*' } }, {})).toBe(true);
    expect(cond({ NumericNotEquals: { k: '1' } }, {})).toBe(true);
  });

  it('...IfExists: evaluated normally when the key is present, true when absent', () => {
    expect(cond({ StringEqualsIfExists: { k: 'a' } }, {})).toBe(true);
    expect(cond({ StringEqualsIfExists: { k: 'a' } }, { k: 'a' })).toBe(true);
    expect(cond({ StringEqualsIfExists: { k: 'a' } }, { k: 'b' })).toBe(false);
    expect(cond({ NumericLessThanEqualsIfExists: { 's3:max-keys': '100' } }, {})).toBe(true);
    expect(cond({ NumericLessThanEqualsIfExists: { 's3:max-keys': '100' } }, { 's3:max-keys': '1000' })).toBe(
      false,
    );
    expect(cond({ StringNotLikeIfExists: { k: 'a*' } }, { k: 'ab' })).toBe(false);
  });

  it('Null: "true" holds when the key is absent (or an empty list), "false" when present', () => {
    expect(cond({ Null: { k: 'true' } }, {})).toBe(true);
    expect(cond({ Null: { k: 'true' } }, { k: [] })).toBe(true);
    expect(cond({ Null: { k: 'true' } }, { k: 'x' })).toBe(false);
    expect(cond({ Null: { k: false } }, { k: 'x' })).toBe(true);
    expect(cond({ Null: { k: 'false' } }, {})).toBe(false);
  });

  it('ForAllValues: every request value must match one policy value; true when absent or empty', () => {
    const c = { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['a', 'b'] } };
    expect(cond(c, { 'dynamodb:LeadingKeys': ['a'] })).toBe(true);
    expect(cond(c, { 'dynamodb:LeadingKeys': ['a', 'b', 'a'] })).toBe(true);
    expect(cond(c, { 'dynamodb:LeadingKeys': ['a', 'c'] })).toBe(false);
    expect(cond(c, { 'dynamodb:LeadingKeys': [] })).toBe(true);
    expect(cond(c, {})).toBe(true);
    // A single value is a set of one.
    expect(cond(c, { 'dynamodb:LeadingKeys': 'b' })).toBe(true);
    expect(cond(c, { 'dynamodb:LeadingKeys': 'c' })).toBe(false);
    expect(
      cond(
        { 'ForAllValues:StringLike': { 'aws:TagKeys': ['team*', 'env'] } },
        { 'aws:TagKeys': ['team-a', 'env'] },
      ),
    ).toBe(true);
    // With a negated operator, every value must match none of the policy's values.
    const not = { 'ForAllValues:StringNotEquals': { 'aws:TagKeys': ['secret', 'owner'] } };
    expect(cond(not, { 'aws:TagKeys': ['a', 'b'] })).toBe(true);
    expect(cond(not, { 'aws:TagKeys': ['a', 'owner'] })).toBe(false);
    expect(cond(not, {})).toBe(true);
  });

  it('ForAnyValue: at least one request value must match; false when absent or empty', () => {
    const c = { 'ForAnyValue:StringEquals': { 'aws:TagKeys': ['a', 'b'] } };
    expect(cond(c, { 'aws:TagKeys': ['x', 'b'] })).toBe(true);
    expect(cond(c, { 'aws:TagKeys': ['x', 'y'] })).toBe(false);
    expect(cond(c, { 'aws:TagKeys': [] })).toBe(false);
    expect(cond(c, {})).toBe(false);
    const not = { 'ForAnyValue:StringNotLike': { 'aws:TagKeys': 'sys:*' } };
    expect(cond(not, { 'aws:TagKeys': ['sys:a', 'mine'] })).toBe(true);
    expect(cond(not, { 'aws:TagKeys': ['sys:a', 'sys:b'] })).toBe(false);
    expect(cond(not, {})).toBe(false);
    // IfExists turns the absent case true even for ForAnyValue.
    expect(cond({ 'ForAnyValue:StringEqualsIfExists': { 'aws:TagKeys': 'a' } }, {})).toBe(true);
  });

  it('a plain operator on a key with several request values matches nothing', () => {
    expect(cond({ StringEquals: { k: ['a', 'b'] } }, { k: ['a', 'b'] })).toBe(false);
    expect(cond({ StringEquals: { k: 'a' } }, { k: ['a'] })).toBe(true);
  });

  it('operators AND, keys within an operator AND, values of a key OR; key names are case-insensitive', () => {
    const c = {
      StringEquals: { 'aws:RequestedRegion': ['us-east-1', 'eu-west-1'], 'aws:PrincipalTag/team': 'data' },
      Bool: { 'aws:SecureTransport': 'true' },
    };
    const ok = {
      'aws:RequestedRegion': 'eu-west-1',
      'aws:PrincipalTag/team': 'data',
      'aws:SecureTransport': true,
    };
    expect(cond(c, ok)).toBe(true);
    expect(cond(c, { ...ok, 'aws:RequestedRegion': 'ap-south-1' })).toBe(false);
    expect(cond(c, { ...ok, 'aws:PrincipalTag/team': 'web' })).toBe(false);
    expect(cond(c, { ...ok, 'aws:SecureTransport': false })).toBe(false);
    expect(cond({ StringEquals: { 'S3:Prefix': 'x' } }, { 's3:prefix': 'x' })).toBe(true);
  });

  it('policy variables are compared literally', () => {
    const VAR = '$' + '{aws:username}';
    expect(cond({ StringLike: { 's3:prefix': `home/${VAR}/*` } }, { 's3:prefix': 'home/bob/x' })).toBe(false);
    expect(cond({ StringLike: { 's3:prefix': `home/${VAR}/*` } }, { 's3:prefix': `home/${VAR}/x` })).toBe(
      true,
    );
  });
});

describe('IAM policy evaluation: Sluice grants', () => {
  // As infra/sluice-catalog.ts grantState writes it for a task reading collection a/b.
  const state: PolicyDocument = {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem'],
        Resource: TABLE,
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['s#a/b', 'c#task'] } },
      },
    ],
  };

  it("state-table access is confined to the task's own partitions", () => {
    const req = (action: string, keys: string[]) => ({
      action,
      resource: TABLE,
      context: { 'dynamodb:LeadingKeys': keys },
    });
    expect(effect([state], req('dynamodb:GetItem', ['s#a/b']))).toBe('allow');
    expect(effect([state], req('dynamodb:Query', ['c#task']))).toBe('allow');
    expect(effect([state], req('dynamodb:PutItem', ['s#a/b', 's#other']))).toBe('implicit-deny');
    expect(effect([state], req('dynamodb:GetItem', ['s#a/bc']))).toBe('implicit-deny');
    expect(effect([state], req('dynamodb:DeleteItem', ['s#a/b']))).toBe('implicit-deny');
    expect(effect([state], { ...req('dynamodb:GetItem', ['s#a/b']), resource: `${TABLE}-other` })).toBe(
      'implicit-deny',
    );
  });

  it('fragment listing is confined to the prefix by s3:prefix', () => {
    const list: PolicyDocument = {
      Statement: [
        {
          Effect: 'Allow',
          Action: 's3:ListBucket',
          Resource: 'arn:aws:s3:::frags',
          Condition: { StringLike: { 's3:prefix': ['acme/events/*'] } },
        },
      ],
    };
    const req = (prefix?: string): IamRequest => ({
      action: 's3:ListBucket',
      resource: 'arn:aws:s3:::frags',
      context: { 's3:prefix': prefix },
    });
    expect(effect([list], req('acme/events/'))).toBe('allow');
    expect(effect([list], req('acme/events/2026/05'))).toBe('allow');
    expect(effect([list], req('acme/other/'))).toBe('implicit-deny');
    expect(effect([list], req(''))).toBe('implicit-deny');
    expect(effect([list], req(undefined))).toBe('implicit-deny');
    expect(effect([list], { ...req('acme/events/'), resource: 'arn:aws:s3:::frags/acme/events/' })).toBe(
      'implicit-deny',
    );
  });
});

describe('IAM policy evaluation: malformed policies', () => {
  const req: IamRequest = { action: 's3:GetObject', resource: 'arn:aws:s3:::b/k' };
  const bad = (st: unknown) => () =>
    evaluatePolicies([doc(allow({ Action: '*', Resource: '*' })), doc(st as PolicyStatement)], req);

  it('throws PolicyError naming the statement (index and Sid) and what was wrong', () => {
    expect(
      bad({ Sid: 'X', Effect: 'Allow', Action: '*', Resource: '*', Condition: { StringEqual: { k: 'a' } } }),
    ).toThrow(/policy 1 statement 0 \(Sid "X"\): unknown condition operator "StringEqual"/);
    expect(bad({ Action: '*', Resource: '*' })).toThrow(
      /policy 1 statement 0: Effect must be "Allow" or "Deny", found undefined/,
    );
    expect(bad({ Effect: 'allow', Action: '*', Resource: '*' })).toThrow(/found "allow"/);
    expect(bad({ Effect: 'Allow', Resource: '*' })).toThrow(/has neither Action nor NotAction/);
    expect(bad({ Effect: 'Allow', Action: '*', NotAction: 's3:*', Resource: '*' })).toThrow(
      /has both Action and NotAction/,
    );
    expect(bad({ Effect: 'Allow', Action: '*' })).toThrow(/has neither Resource nor NotResource/);
    expect(bad({ Effect: 'Allow', Action: '*', Resource: 'arn:aws:kinesis:*' })).toThrow(
      /resource "arn:aws:kinesis:\*" is not "\*" or an ARN with six components/,
    );
    expect(bad({ Effect: 'Allow', Action: 'GetObject', Resource: '*' })).toThrow(
      /not "\*" or "<service>:<action>"/,
    );
    expect(bad({ Effect: 'Allow', Action: '*', Resource: '*', Principal: '*' })).toThrow(
      /Principal is not allowed/,
    );
    expect(
      bad({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { NullIfExists: { k: 'true' } } }),
    ).toThrow(/unknown condition operator "NullIfExists"/);
    expect(bad({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { Bool: { k: 'yes' } } })).toThrow(
      /expected true or false/,
    );
    expect(
      bad({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { NumericEquals: { k: 'ten' } } }),
    ).toThrow(/expected a number/);
    expect(
      bad({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { StringEquals: { k: { a: 1 } } } }),
    ).toThrow(/values must be strings/);
  });

  it('is a PolicyError with a code, thrown even when another statement already decides', () => {
    try {
      bad({
        Effect: 'Deny',
        Action: '*',
        Resource: '*',
        Condition: { 'ForSomeValues:StringEquals': { k: 'a' } },
      })();
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(PolicyError);
      expect((e as PolicyError).code).toBe('MalformedPolicy');
      expect((e as PolicyError).where).toBe('policy 1 statement 0');
    }
    expect(() => evaluatePolicies([{} as PolicyDocument], req)).toThrow(/policy 0: has no Statement/);
  });
});
