/**
 * Connector secrets on AWS.
 *
 * A connector config value may reference a secret instead of holding it (shared/connectors/config.ts
 * resolves these at run time):
 * - `secretsmanager:<name or ARN>[#jsonKey]` (or a bare `arn:aws:secretsmanager:...` ARN): Secrets Manager;
 * - `ssm:<parameter name>`: an SSM Parameter Store (SecureString) parameter;
 * - `${NAME}` / `env:NAME`: an environment variable: fine locally, but on Lambda nothing sets it, so synth
 *   warns (use one of the two above for deployed catalogs).
 *
 * The infra grants each function read access to exactly the secrets its own endpoint config names, and
 * nothing secret ever goes into the template: the template holds only ARNs. A literal value in a field
 * that looks like a credential draws a synth warning.
 */
import type { Json } from '../shared/json/types.ts';

export type SecretRef =
  | { kind: 'secretsmanager'; id: string; pointer: string }
  | { kind: 'ssm'; parameter: string; pointer: string };

export interface SecretScan {
  refs: SecretRef[];
  /** Credential-looking fields holding a literal value, or an env reference unresolvable on Lambda. */
  warnings: { pointer: string; message: string }[];
}

const SECRET_KEY = /(password|passwd|secret|token|api[-_]?key|access[-_]?key|credential|signing)/i;

function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** Every secret reference and every suspicious literal in a connector config. `base` prefixes pointers. */
export function scanSecrets(config: Json, base: string): SecretScan {
  const out: SecretScan = { refs: [], warnings: [] };
  const walk = (node: Json, pointer: string, key: string | undefined): void => {
    if (typeof node === 'string') {
      const sm = /^secretsmanager:(.+)$/.exec(node);
      if (sm) {
        out.refs.push({ kind: 'secretsmanager', id: sm[1].replace(/#[^#]*$/, ''), pointer });
      } else if (/^arn:aws[\w-]*:secretsmanager:/.test(node)) {
        out.refs.push({ kind: 'secretsmanager', id: node.replace(/#[^#]*$/, ''), pointer });
      } else if (/^ssm:(.+)$/.test(node)) {
        out.refs.push({ kind: 'ssm', parameter: node.slice(4), pointer });
      } else if (/^env:|^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(node)) {
        out.warnings.push({
          pointer,
          message: `${JSON.stringify(node)} reads an environment variable that is not set on Lambda; use secretsmanager:<name> or ssm:<parameter>`,
        });
      } else if (key !== undefined && SECRET_KEY.test(key) && node !== '') {
        out.warnings.push({
          pointer,
          message: `looks like a credential written in clear; use secretsmanager:<name> or ssm:<parameter>`,
        });
      }
      return;
    }
    if (Array.isArray(node)) {
      for (const [i, v] of node.entries()) walk(v, `${pointer}/${i}`, key);
      return;
    }
    if (node !== null && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) walk(v, `${pointer}/${escapePointer(k)}`, k);
    }
  };
  walk(config, base, undefined);
  return out;
}

/**
 * IAM resource ARN for a Secrets Manager reference. A full ARN is used as is (with a `-??????` suffix
 * wildcard when it lacks the random suffix); a name becomes `...:secret:<name>-??????`, the documented
 * pattern matching exactly that secret.
 */
export function secretArn(id: string, partition: string, region: string, account: string): string {
  if (id.startsWith('arn:')) {
    return /-[A-Za-z0-9]{6}$/.test(id) ? id : `${id}-??????`;
  }
  return `arn:${partition}:secretsmanager:${region}:${account}:secret:${id}-??????`;
}

/** IAM resource ARN of an SSM parameter (`/a/b` and `a/b` name the same parameter path). */
export function parameterArn(name: string, partition: string, region: string, account: string): string {
  if (name.startsWith('arn:')) return name;
  return `arn:${partition}:ssm:${region}:${account}:parameter/${name.replace(/^\//, '')}`;
}
