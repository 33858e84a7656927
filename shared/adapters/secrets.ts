/**
 * Connector secrets on AWS: `secretsmanager:<id or ARN>[#jsonKey]` (or a bare Secrets Manager ARN) is
 * read with GetSecretValue, `ssm:<parameter name>` with GetParameter (decrypted), `env:NAME` from the
 * environment. Each reference is fetched once per process (cold start), and values never appear in
 * errors or logs. The CDK stack grants each function exactly the secrets its connector config names.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { envSecretResolver, type SecretResolver } from '../connectors/config.ts';

export interface SecretClients {
  secrets: () => SecretsManagerClient;
  ssm: () => SSMClient;
}

export function awsSecretResolver(clients: SecretClients): SecretResolver {
  const cache = new Map<string, Promise<string>>();
  const fetch = async (ref: string): Promise<string> => {
    if (ref.startsWith('env:')) return envSecretResolver(ref);
    if (ref.startsWith('ssm:')) {
      const name = ref.slice('ssm:'.length);
      const out = await clients.ssm().send(new GetParameterCommand({ Name: name, WithDecryption: true }));
      const v = out.Parameter?.Value;
      if (v === undefined) throw new Error(`SSM parameter ${name} has no value`);
      return v;
    }
    const spec = ref.startsWith('secretsmanager:') ? ref.slice('secretsmanager:'.length) : ref;
    // An ARN holds colons but no `#`; the JSON key, when given, follows the last `#`.
    const hash = spec.lastIndexOf('#');
    const id = hash < 0 ? spec : spec.slice(0, hash);
    const key = hash < 0 ? undefined : spec.slice(hash + 1);
    const out = await clients.secrets().send(new GetSecretValueCommand({ SecretId: id }));
    const text =
      out.SecretString ?? (out.SecretBinary ? Buffer.from(out.SecretBinary).toString('utf8') : undefined);
    if (text === undefined) throw new Error(`secret ${id} has no value`);
    if (key === undefined) return text;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`secret ${id} is not JSON, so it has no key ${key}`);
    }
    const v = (parsed as Record<string, unknown>)?.[key];
    if (typeof v !== 'string' && typeof v !== 'number')
      throw new Error(`secret ${id} has no string key ${key}`);
    return String(v);
  };
  return (ref) => {
    let p = cache.get(ref);
    if (!p) {
      p = fetch(ref);
      cache.set(ref, p);
      p.catch(() => cache.delete(ref)); // a failed fetch is retried on the next use
    }
    return p;
  };
}
