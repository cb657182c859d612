/** The `node` runtime: a JS or TS module whose default export is the handler. */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { SwitchboardError } from '../../errors.js';
import type { FunctionHandler } from '../function-api.js';

const TYPESCRIPT = new Set(['.ts', '.mts', '.cts']);

/** Imports a module by file URL. Replaceable where the host has its own loader (Jest). */
export type ModuleImporter = (url: string) => Promise<unknown>;

export const defaultImporter: ModuleImporter = async (url) => {
  if (TYPESCRIPT.has(path.extname(new URL(url).pathname))) {
    // Node 20 cannot strip types itself; tsx compiles the module (and what it imports) on load.
    const { tsImport } = await import('tsx/esm/api');
    return tsImport(url, import.meta.url);
  }
  return import(url);
};

export async function loadNodeHandler(modulePath: string, importModule: ModuleImporter = defaultImporter): Promise<FunctionHandler> {
  let mod: Record<string, unknown>;
  try {
    mod = (await importModule(pathToFileURL(modulePath).href)) as Record<string, unknown>;
  } catch (err) {
    throw new SwitchboardError('SWB_ERR_FUNCTION_LOAD', `cannot load function module ${modulePath}: ${(err as Error).message}`, { cause: err });
  }
  let handler = mod.default;
  // A CommonJS module, or TS compiled to it, nests the default export once more.
  if (handler && typeof handler === 'object' && typeof (handler as { default?: unknown }).default === 'function') {
    handler = (handler as { default: unknown }).default;
  }
  if (typeof handler !== 'function') {
    throw new SwitchboardError('SWB_ERR_FUNCTION_LOAD', `function module ${modulePath} must default-export a function (event, ctx) => result`);
  }
  return handler as FunctionHandler;
}
