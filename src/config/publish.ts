/** The published JSON schemas, generated from the TypeBox sources; `npm run schemas` writes them. */
import { BUILTIN_CONNECTORS } from '../registry/builtins.js';
import { composeRootSchema } from './schema.js';

const json = (value: unknown) => JSON.stringify(withoutDefaultedRequired(value), null, 2) + '\n';

/** Fields with a default are filled in at load, so editors should not demand them. */
function withoutDefaultedRequired(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutDefaultedRequired);
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = withoutDefaultedRequired(v);
  const properties = out.properties as Record<string, { default?: unknown }> | undefined;
  if (Array.isArray(out.required) && properties) {
    out.required = (out.required as string[]).filter((name) => properties[name]?.default === undefined);
    if ((out.required as string[]).length === 0) delete out.required;
  }
  return out;
}

/** Path (relative to the repository root) → file content. */
export function renderSchemas(): Map<string, string> {
  const files = new Map<string, string>();
  files.set('schemas/switchboard.schema.json', json(composeRootSchema(BUILTIN_CONNECTORS)));
  for (const connector of BUILTIN_CONNECTORS) {
    files.set(`connectors/${connector.type}/config.schema.json`, json({
      $schema: 'http://json-schema.org/draft-07/schema#',
      title: `${connector.type} connector config`,
      description: connector.description,
      ...JSON.parse(JSON.stringify(connector.configSchema)),
    }));
  }
  return files;
}
