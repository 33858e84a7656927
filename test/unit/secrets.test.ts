// Connector secrets on AWS: the real SDK v3 clients against a local HTTP server that speaks the
// Secrets Manager and SSM JSON protocols (there is no emulator of these services on this machine).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsSecretResolver } from '../../shared/adapters/secrets.ts';
import { resolveConfigSecrets } from '../../shared/connectors/config.ts';

const SECRETS: Record<string, string> = {
  'prod/warehouse': JSON.stringify({ password: 'pg-s3cret', port: 5432 }),
  'arn:aws:secretsmanager:us-east-1:123456789012:secret:plain-AbCdEf': 'plain-value',
};
const PARAMS: Record<string, string> = { '/sluice/webhook-token': 'tok-123' };
const calls: string[] = [];
let server: Server;
let endpoint: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const input = JSON.parse(body || '{}') as {
        SecretId?: string;
        Name?: string;
        WithDecryption?: boolean;
      };
      calls.push(`${target} ${input.SecretId ?? input.Name}`);
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      if (target === 'secretsmanager.GetSecretValue' && input.SecretId && input.SecretId in SECRETS) {
        res.end(JSON.stringify({ Name: input.SecretId, SecretString: SECRETS[input.SecretId] }));
      } else if (
        target === 'AmazonSSM.GetParameter' &&
        input.Name &&
        input.Name in PARAMS &&
        input.WithDecryption
      ) {
        res.end(
          JSON.stringify({
            Parameter: { Name: input.Name, Type: 'SecureString', Value: PARAMS[input.Name] },
          }),
        );
      } else {
        res.statusCode = 400;
        res.end(JSON.stringify({ __type: 'ResourceNotFoundException', message: 'not found' }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function resolver() {
  const common = {
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    maxAttempts: 1,
  };
  return awsSecretResolver({
    secrets: () => new SecretsManagerClient(common),
    ssm: () => new SSMClient(common),
  });
}

describe('awsSecretResolver', () => {
  it('reads Secrets Manager (with a JSON key, or a bare ARN) and SSM parameters, once per reference', async () => {
    const secret = resolver();
    calls.length = 0;
    expect(await secret('secretsmanager:prod/warehouse#password')).toBe('pg-s3cret');
    expect(await secret('secretsmanager:prod/warehouse#password')).toBe('pg-s3cret');
    expect(await secret('arn:aws:secretsmanager:us-east-1:123456789012:secret:plain-AbCdEf')).toBe(
      'plain-value',
    );
    expect(await secret('ssm:/sluice/webhook-token')).toBe('tok-123');
    expect(calls).toEqual([
      'secretsmanager.GetSecretValue prod/warehouse',
      'secretsmanager.GetSecretValue arn:aws:secretsmanager:us-east-1:123456789012:secret:plain-AbCdEf',
      'AmazonSSM.GetParameter /sluice/webhook-token',
    ]);
  });

  it('resolves a connector config in place and names the field, never the value, on failure', async () => {
    const config = {
      address: 'db:5432',
      user: 'flow',
      password: 'secretsmanager:prod/warehouse#password',
      database: 'w',
      schema: 'public',
    };
    await resolveConfigSecrets('materialize-postgres', config, resolver());
    expect(config.password).toBe('pg-s3cret');

    const missing = { ...config, password: 'secretsmanager:prod/warehouse#nope' };
    await expect(resolveConfigSecrets('materialize-postgres', missing, resolver())).rejects.toThrow(
      /\/password/,
    );
    await expect(resolveConfigSecrets('materialize-postgres', missing, resolver())).rejects.not.toThrow(
      /pg-s3cret/,
    );
    const unknown = { ...config, password: 'ssm:/not/there' };
    await expect(resolveConfigSecrets('materialize-postgres', unknown, resolver())).rejects.toThrow(
      /\/password/,
    );
  });
});
