/**
 * A focused evaluator of IAM identity-based policies, for the local stack: each function's AWS calls
 * are checked against its role's policies (from the synthesized template, intrinsics resolved) so that a
 * missing grant fails locally the way it would on AWS. It follows AWS's documented logic ("Policy
 * evaluation logic", "Condition operators", "Single-valued vs. multivalued context keys"):
 * - an explicit Deny in any statement wins; otherwise an Allow; otherwise the request is implicitly
 *   denied;
 * - Action/NotAction match case-insensitively, Resource/NotResource case-sensitively, both with `*` and
 *   `?` wildcards; ARNs are matched segment by segment (a `*` does not cross the `:` between partition,
 *   service, region and account), as ArnLike does;
 * - within a Condition block every operator must hold, within an operator every key, and one of a key's
 *   values (none, for a negated operator); condition key names are case-insensitive;
 * - a key absent from the request makes a plain operator false and a negated one true; `...IfExists`
 *   makes any operator true on an absent key; `Null` tests presence; `ForAllValues:` is true on an absent
 *   or empty key and `ForAnyValue:` false.
 * Not supported (never needed by Sluice's own grants): policy variables (`${aws:username}` is compared
 * literally), resource-based policies (Principal), permissions boundaries and SCPs.
 */
import { BlockList, isIP } from 'node:net';
import { SluiceError } from '../../errors.ts';

export type StringOrList = string | string[];

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: StringOrList;
  NotAction?: StringOrList;
  Resource?: StringOrList;
  NotResource?: StringOrList;
  Condition?: Record<string, Record<string, unknown>>;
}

export interface PolicyDocument {
  Version?: string;
  Statement: PolicyStatement | PolicyStatement[];
}

/** Values of condition context keys for one request; a multivalued key (e.g. dynamodb:LeadingKeys) is an array; absent keys are undefined. */
export interface IamRequest {
  action: string;
  resource: string;
  context?: Record<string, string | string[] | boolean | number | undefined>;
}

export type Decision =
  | { effect: 'allow'; statement: PolicyStatement }
  | { effect: 'explicit-deny'; statement: PolicyStatement }
  | { effect: 'implicit-deny' };

/** A policy that IAM would reject (or that this evaluator cannot judge): failing loudly beats guessing. */
export class PolicyError extends SluiceError {
  readonly code = 'MalformedPolicy';
  constructor(
    /** Where: `policy <i> statement <j>` plus the Sid when there is one. */
    readonly where: string,
    detail: string,
  ) {
    super(`${where}: ${detail}`);
    this.name = 'PolicyError';
  }
}

// ------------------------------------------------------------------ wildcards

const globCache = new Map<string, RegExp>();

/** `*` any run of characters, `?` exactly one; everything else literal. */
function glob(pattern: string, ignoreCase: boolean): RegExp {
  const cacheKey = (ignoreCase ? 'i' : 's') + pattern;
  let re = globCache.get(cacheKey);
  if (!re) {
    const body = pattern
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.+()[\]{}|/-]/g, '\\$&')))
      .join('');
    re = new RegExp(`^${body}$`, ignoreCase ? 'is' : 's');
    if (globCache.size > 10_000) globCache.clear();
    globCache.set(cacheKey, re);
  }
  return re;
}

function like(value: string, pattern: string, ignoreCase = false): boolean {
  if (!pattern.includes('*') && !pattern.includes('?'))
    return ignoreCase ? value.toLowerCase() === pattern.toLowerCase() : value === pattern;
  return glob(pattern, ignoreCase).test(value);
}

/** arn:partition:service:region:account:resource, the resource keeping any further colons. */
function arnParts(s: string): string[] | undefined {
  const parts = s.split(':');
  if (parts.length < 6 || parts[0] !== 'arn') return undefined;
  return [...parts.slice(0, 5), parts.slice(5).join(':')];
}

/**
 * ArnLike/ArnEquals and Resource matching: each of the six colon-separated components is matched on its
 * own, so `arn:aws:s3:::b/*` cannot match a DynamoDB ARN through a `*` that swallows colons.
 */
function arnLike(value: string, pattern: string): boolean {
  if (pattern === '*') return true;
  const p = arnParts(pattern);
  const v = arnParts(value);
  // Without six components on both sides there is nothing to align (a resource of `*`, for actions
  // that take none, is matched only by `*`).
  if (!p || !v) return false;
  return p.every((seg, i) => like(v[i], seg));
}

function actionMatches(action: string, pattern: string): boolean {
  return like(action, pattern, true);
}

// ------------------------------------------------------------------ conditions

type Value = string | number | boolean;
type Family =
  | 'String'
  | 'StringIgnoreCase'
  | 'StringLike'
  | 'Arn'
  | 'Numeric'
  | 'Date'
  | 'Bool'
  | 'Binary'
  | 'Ip';

interface BaseOperator {
  family: Family;
  negated: boolean;
  /** Does one request value satisfy one policy value (before negation)? */
  test(request: string, policy: string): boolean;
  /** Can the operator read this request value at all? One it cannot matches nothing, negated or not. */
  readable?(request: string): boolean;
}

function num(s: string): number | undefined {
  if (s.trim() === '') return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

/** IAM dates are ISO 8601 (date, or date and time) or epoch seconds. */
function date(s: string): number | undefined {
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : t;
}

function cmp(parse: (s: string) => number | undefined, ok: (a: number, b: number) => boolean) {
  return (request: string, policy: string): boolean => {
    const a = parse(request);
    const b = parse(policy);
    return a !== undefined && b !== undefined && ok(a, b);
  };
}

function ipMatches(request: string, policy: string): boolean {
  const v = isIP(request);
  if (v === 0) return false;
  const [net, bits] = policy.split('/');
  const family = isIP(net);
  if (family === 0) return false;
  const list = new BlockList();
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const prefix = bits === undefined ? (family === 4 ? 32 : 128) : Number(bits);
  if (!Number.isInteger(prefix)) return false;
  list.addSubnet(net, prefix, type);
  return list.check(request, v === 4 ? 'ipv4' : 'ipv6');
}

const eq = (a: number, b: number) => a === b;
const OPERATORS: Record<string, BaseOperator> = {
  StringEquals: { family: 'String', negated: false, test: (r, p) => r === p },
  StringNotEquals: { family: 'String', negated: true, test: (r, p) => r === p },
  StringEqualsIgnoreCase: {
    family: 'StringIgnoreCase',
    negated: false,
    test: (r, p) => r.toLowerCase() === p.toLowerCase(),
  },
  StringNotEqualsIgnoreCase: {
    family: 'StringIgnoreCase',
    negated: true,
    test: (r, p) => r.toLowerCase() === p.toLowerCase(),
  },
  StringLike: { family: 'StringLike', negated: false, test: (r, p) => like(r, p) },
  StringNotLike: { family: 'StringLike', negated: true, test: (r, p) => like(r, p) },
  // AWS documents ArnEquals and ArnLike identically (both take wildcards per component).
  ArnEquals: { family: 'Arn', negated: false, test: arnLike },
  ArnLike: { family: 'Arn', negated: false, test: arnLike },
  ArnNotEquals: { family: 'Arn', negated: true, test: arnLike },
  ArnNotLike: { family: 'Arn', negated: true, test: arnLike },
  NumericEquals: { family: 'Numeric', negated: false, test: cmp(num, eq) },
  NumericNotEquals: {
    family: 'Numeric',
    negated: true,
    test: cmp(num, eq),
    readable: (s) => num(s) !== undefined,
  },
  NumericLessThan: { family: 'Numeric', negated: false, test: cmp(num, (a, b) => a < b) },
  NumericLessThanEquals: { family: 'Numeric', negated: false, test: cmp(num, (a, b) => a <= b) },
  NumericGreaterThan: { family: 'Numeric', negated: false, test: cmp(num, (a, b) => a > b) },
  NumericGreaterThanEquals: { family: 'Numeric', negated: false, test: cmp(num, (a, b) => a >= b) },
  DateEquals: { family: 'Date', negated: false, test: cmp(date, eq) },
  DateNotEquals: {
    family: 'Date',
    negated: true,
    test: cmp(date, eq),
    readable: (s) => date(s) !== undefined,
  },
  DateLessThan: { family: 'Date', negated: false, test: cmp(date, (a, b) => a < b) },
  DateLessThanEquals: { family: 'Date', negated: false, test: cmp(date, (a, b) => a <= b) },
  DateGreaterThan: { family: 'Date', negated: false, test: cmp(date, (a, b) => a > b) },
  DateGreaterThanEquals: { family: 'Date', negated: false, test: cmp(date, (a, b) => a >= b) },
  Bool: { family: 'Bool', negated: false, test: (r, p) => r.toLowerCase() === p.toLowerCase() },
  BinaryEquals: { family: 'Binary', negated: false, test: (r, p) => r === p },
  IpAddress: { family: 'Ip', negated: false, test: ipMatches },
  NotIpAddress: { family: 'Ip', negated: true, test: ipMatches, readable: (s) => isIP(s) !== 0 },
};

interface Operator {
  name: string;
  set?: 'ForAllValues' | 'ForAnyValue';
  ifExists: boolean;
  /** undefined for Null, which only tests presence. */
  base?: BaseOperator;
}

function parseOperator(name: string, where: string): Operator {
  let rest = name;
  let set: Operator['set'];
  const m = /^(ForAllValues|ForAnyValue):(.*)$/.exec(rest);
  if (m) {
    set = m[1] as Operator['set'];
    rest = m[2];
  }
  if (rest === 'Null') {
    if (set) throw new PolicyError(where, `condition operator "${name}": Null takes no set qualifier`);
    return { name, ifExists: false };
  }
  const ifExists = rest.endsWith('IfExists');
  if (ifExists) rest = rest.slice(0, -'IfExists'.length);
  const base = Object.hasOwn(OPERATORS, rest) ? OPERATORS[rest] : undefined;
  if (!base) throw new PolicyError(where, `unknown condition operator "${name}"`);
  return { name, set, ifExists, base };
}

function policyValues(op: Operator, key: string, raw: unknown, where: string): string[] {
  const list = Array.isArray(raw) ? raw : [raw];
  return list.map((v) => {
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
      throw new PolicyError(
        where,
        `condition ${op.name} on "${key}": values must be strings, numbers or booleans, found ${JSON.stringify(v)}`,
      );
    const s = String(v);
    const family = op.base?.family;
    if ((family === undefined || family === 'Bool') && !/^(true|false)$/i.test(s))
      throw new PolicyError(
        where,
        `condition ${op.name} on "${key}": expected true or false, found ${JSON.stringify(v)}`,
      );
    if (family === 'Numeric' && num(s) === undefined)
      throw new PolicyError(
        where,
        `condition ${op.name} on "${key}": expected a number, found ${JSON.stringify(v)}`,
      );
    if (family === 'Date' && date(s) === undefined)
      throw new PolicyError(
        where,
        `condition ${op.name} on "${key}": expected a date, found ${JSON.stringify(v)}`,
      );
    return s;
  });
}

interface CompiledCondition {
  op: Operator;
  key: string;
  values: string[];
}

type Context = Map<string, Value | Value[]>;

/** The request's values for a key, or undefined when absent; an empty list counts as absent. */
function requestValues(ctx: Context, key: string): string[] | undefined {
  const v = ctx.get(key.toLowerCase());
  if (v === undefined) return undefined;
  const list = Array.isArray(v) ? v : [v];
  return list.length === 0 ? undefined : list.map(String);
}

/** One request value against all the policy's values for the key: OR, or NOR when negated. */
function valueMatches(base: BaseOperator, value: string, values: string[]): boolean {
  const any = values.some((p) => base.test(value, p));
  if (!base.negated) return any;
  // Otherwise NumericNotEquals would hold for "abc", and NotIpAddress for a missing address.
  if (base.readable && !base.readable(value)) return false;
  return !any;
}

function conditionHolds(c: CompiledCondition, ctx: Context): boolean {
  const got = requestValues(ctx, c.key);
  const { op } = c;
  if (!op.base) {
    // Null: "true" means the key must be absent, "false" that it must be present.
    return c.values.some((v) => (v.toLowerCase() === 'true') === (got === undefined));
  }
  if (got === undefined) {
    if (op.ifExists) return true;
    if (op.set === 'ForAllValues') return true;
    if (op.set === 'ForAnyValue') return false;
    return op.base.negated;
  }
  if (op.set === 'ForAllValues') return got.every((v) => valueMatches(op.base!, v, c.values));
  if (op.set === 'ForAnyValue') return got.some((v) => valueMatches(op.base!, v, c.values));
  // A plain operator is for single-valued keys; AWS says multivalued keys need a set operator, so a
  // request with several values for the key matches nothing rather than being guessed at.
  if (got.length > 1) return false;
  return valueMatches(op.base, got[0], c.values);
}

// ------------------------------------------------------------------ statements

interface CompiledStatement {
  source: PolicyStatement;
  effect: 'Allow' | 'Deny';
  actions: string[];
  actionsNegated: boolean;
  resources: string[];
  resourcesNegated: boolean;
  conditions: CompiledCondition[];
}

function stringList(v: unknown, field: string, where: string): string[] {
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0 || list.some((s) => typeof s !== 'string' || s === ''))
    throw new PolicyError(
      where,
      `${field} must be a non-empty string or list of strings, found ${JSON.stringify(v)}`,
    );
  return list as string[];
}

function oneOf(st: Record<string, unknown>, a: string, b: string, where: string): [string[], boolean] {
  const hasA = st[a] !== undefined;
  const hasB = st[b] !== undefined;
  if (hasA === hasB)
    throw new PolicyError(where, hasA ? `has both ${a} and ${b}` : `has neither ${a} nor ${b}`);
  return hasA ? [stringList(st[a], a, where), false] : [stringList(st[b], b, where), true];
}

const KNOWN_FIELDS = new Set([
  'Sid',
  'Effect',
  'Action',
  'NotAction',
  'Resource',
  'NotResource',
  'Condition',
]);

function compileStatement(raw: unknown, where0: string): CompiledStatement {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new PolicyError(where0, `a statement must be an object, found ${JSON.stringify(raw)}`);
  const st = raw as Record<string, unknown>;
  const where = typeof st.Sid === 'string' && st.Sid !== '' ? `${where0} (Sid "${st.Sid}")` : where0;
  for (const f of Object.keys(st))
    if (!KNOWN_FIELDS.has(f))
      throw new PolicyError(
        where,
        f === 'Principal' || f === 'NotPrincipal'
          ? `${f} is not allowed in an identity-based policy`
          : `unknown field "${f}"`,
      );
  if (st.Effect !== 'Allow' && st.Effect !== 'Deny')
    throw new PolicyError(where, `Effect must be "Allow" or "Deny", found ${JSON.stringify(st.Effect)}`);
  const [actions, actionsNegated] = oneOf(st, 'Action', 'NotAction', where);
  for (const a of actions)
    if (a !== '*' && !/^[^:]+:[^:]+$/.test(a))
      throw new PolicyError(where, `action ${JSON.stringify(a)} is not "*" or "<service>:<action>"`);
  const [resources, resourcesNegated] = oneOf(st, 'Resource', 'NotResource', where);
  // IAM refuses these too ("Resource ... must be in ARN format or "*"").
  for (const r of resources)
    if (r !== '*' && !arnParts(r))
      throw new PolicyError(where, `resource ${JSON.stringify(r)} is not "*" or an ARN with six components`);
  const conditions: CompiledCondition[] = [];
  if (st.Condition !== undefined) {
    if (st.Condition === null || typeof st.Condition !== 'object' || Array.isArray(st.Condition))
      throw new PolicyError(where, `Condition must be an object, found ${JSON.stringify(st.Condition)}`);
    for (const [name, block] of Object.entries(st.Condition)) {
      const op = parseOperator(name, where);
      if (block === null || typeof block !== 'object' || Array.isArray(block))
        throw new PolicyError(
          where,
          `condition ${name} must map keys to values, found ${JSON.stringify(block)}`,
        );
      for (const [key, values] of Object.entries(block))
        conditions.push({ op, key, values: policyValues(op, key, values, where) });
    }
  }
  return {
    source: raw as PolicyStatement,
    effect: st.Effect,
    actions,
    actionsNegated,
    resources,
    resourcesNegated,
    conditions,
  };
}

/**
 * Compiled statements by policy list: a role's policies come from the template and are never changed in
 * place (a reload reads new ones), while the proxy asks for every AWS call a function makes.
 */
const compiled = new WeakMap<PolicyDocument[], CompiledStatement[]>();

function compile(policies: PolicyDocument[]): CompiledStatement[] {
  let out = compiled.get(policies);
  if (!out) {
    out = compileAll(policies);
    compiled.set(policies, out);
  }
  return out;
}

function compileAll(policies: PolicyDocument[]): CompiledStatement[] {
  const out: CompiledStatement[] = [];
  policies.forEach((doc, i) => {
    const statements = (doc as { Statement?: unknown } | null)?.Statement;
    if (statements === undefined || statements === null)
      throw new PolicyError(`policy ${i}`, 'has no Statement');
    const list = Array.isArray(statements) ? statements : [statements];
    list.forEach((st, j) => {
      out.push(compileStatement(st, `policy ${i} statement ${j}`));
    });
  });
  return out;
}

function applies(st: CompiledStatement, req: IamRequest, ctx: Context): boolean {
  const actionHit = st.actions.some((p) => actionMatches(req.action, p));
  if (actionHit === st.actionsNegated) return false;
  const resourceHit = st.resources.some((p) => arnLike(req.resource, p));
  if (resourceHit === st.resourcesNegated) return false;
  return st.conditions.every((c) => conditionHolds(c, ctx));
}

/**
 * The decision for one request under a principal's identity-based policies. Every statement is
 * validated first, so a malformed policy throws PolicyError whatever the request.
 */
export function evaluatePolicies(policies: PolicyDocument[], req: IamRequest): Decision {
  const statements = compile(policies);
  const ctx: Context = new Map();
  for (const [k, v] of Object.entries(req.context ?? {})) if (v !== undefined) ctx.set(k.toLowerCase(), v);
  let allow: PolicyStatement | undefined;
  for (const st of statements) {
    if (!applies(st, req, ctx)) continue;
    if (st.effect === 'Deny') return { effect: 'explicit-deny', statement: st.source };
    allow ??= st.source;
  }
  return allow ? { effect: 'allow', statement: allow } : { effect: 'implicit-deny' };
}
