/**
 * The connector registry is the one place connectors are described: every built-in connector has an
 * entry whose kind matches its name, a Lambda entry that exists, config and resource schemas that
 * `sluice check` validates against, and grants the construct knows how to apply.
 */
import { describe, expect, it } from 'vitest';
import { entryExists } from '../../infra/bundling.ts';
import { KNOWN_CONNECTORS } from '../../shared/catalog/model.ts';
import { CONNECTOR_SCHEMAS } from '../../shared/connectors/config.ts';
import { CONNECTORS, connectorDefinition, connectorSchemas } from '../../shared/connectors/registry.ts';

describe('connector registry', () => {
  it.each([...KNOWN_CONNECTORS])(
    '%s: kind by name, an existing Lambda entry, config and resource schemas',
    (name) => {
      const def = connectorDefinition(name);
      expect(def?.name).toBe(name);
      expect(def?.kind).toBe(name.startsWith('source-') ? 'capture' : 'materialization');
      expect(entryExists(def!.entry)).toBe(true);
      // Stream consumers are exactly the materializations; captures are triggered otherwise.
      expect(def!.triggers.includes('kinesis')).toBe(def!.kind === 'materialization');
      const schemas = connectorSchemas(name);
      expect(schemas?.config).toBeDefined();
      expect(schemas?.resource).toBeDefined();
    },
  );

  it('has nothing beyond the built-in connectors', () => {
    expect(Object.keys(CONNECTORS).sort()).toEqual([...KNOWN_CONNECTORS].sort());
    expect(Object.keys(CONNECTOR_SCHEMAS).sort()).toEqual([...KNOWN_CONNECTORS].sort());
    expect(connectorDefinition('materialize-snowflake')).toBeUndefined();
  });
});
