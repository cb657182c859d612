/** Resolves a connector's `type:` to its definition: built-ins first, then plugins named in `plugins:`. */
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ConnectorDefinition } from './contract.js';

export class ConnectorRegistry {
  private readonly definitions = new Map<string, ConnectorDefinition>();

  register(definition: ConnectorDefinition): void {
    if (this.definitions.has(definition.type)) {
      throw new Error(`connector type "${definition.type}" is registered twice`);
    }
    this.definitions.set(definition.type, definition);
  }

  get(type: string): ConnectorDefinition | undefined {
    return this.definitions.get(type);
  }

  types(): string[] {
    return [...this.definitions.keys()].sort();
  }

  /**
   * Loads a third-party connector package (or a local file) whose default export is a
   * ConnectorDefinition or an array of them. Resolved from the config file's folder.
   */
  async loadPlugin(specifier: string, fromDir: string): Promise<void> {
    const isPath = specifier.startsWith('.') || path.isAbsolute(specifier);
    const resolved = isPath
      ? path.resolve(fromDir, specifier)
      : createRequire(path.join(fromDir, 'noop.js')).resolve(specifier);
    const mod = (await import(pathToFileURL(resolved).href)) as { default?: unknown };
    const exported = mod.default;
    const list = Array.isArray(exported) ? exported : [exported];
    for (const item of list) {
      if (!isConnectorDefinition(item)) {
        throw new Error(`plugin "${specifier}" must default-export a connector definition (type, configSchema, inbound or outbound)`);
      }
      this.register(item);
    }
  }
}

function isConnectorDefinition(value: unknown): value is ConnectorDefinition {
  const v = value as Partial<ConnectorDefinition> | undefined;
  return typeof v === 'object' && v !== null && typeof v.type === 'string' && typeof v.configSchema === 'object'
    && (typeof v.inbound === 'function' || typeof v.outbound === 'function');
}
