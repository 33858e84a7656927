/** The catalog's redaction salt reaches exactly the tasks that write redacted collections, as a reference. */
import { join } from 'node:path';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { loadCatalog } from '../../shared/catalog/load.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { functionOfTask, roleOfTask, statementsOfRole, synth } from './support.ts';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'redact', 'flow.yaml');

describe('redactSalt', () => {
  it('captures and derivations writing sha256-redacted collections get SLUICE_REDACT_SALT and may read that secret only', async () => {
    const catalog = (await loadCatalog(FIXTURE)).catalog as BuiltCatalog;
    const { template } = synth(catalog, { redactSalt: 'secretsmanager:prod/redact-salt' });
    const env = (label: string) =>
      (functionOfTask(template, label).props.Environment as { Variables: Record<string, unknown> }).Variables;
    // acme/contacts reads acme/users (sha256) but writes only block-redacted acme/contacts: it ships
    // acme/users' schema, so it gets the salt too; persisters never write new documents.
    expect(env('derivation:acme/contacts').SLUICE_REDACT_SALT).toBe('secretsmanager:prod/redact-salt');
    expect(env('persister:acme/users').SLUICE_REDACT_SALT).toBeUndefined();
    const st = statementsOfRole(template, roleOfTask(template, 'derivation:acme/contacts'));
    const sm = st.filter((s) => [s.Action].flat().includes('secretsmanager:GetSecretValue'));
    expect(JSON.stringify(sm.map((s) => s.Resource))).toContain(':secret:prod/redact-salt-??????');
  });

  it('without a salt, synth warns that sha256 hashes use an empty salt', async () => {
    const catalog = (await loadCatalog(FIXTURE)).catalog as BuiltCatalog;
    const { stack } = synth(catalog);
    Annotations.fromStack(stack).hasWarning('*', Match.stringLikeRegexp('redactSalt is not set'));
  });
});
