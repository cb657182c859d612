/**
 * Attribute templates such as `com.github.{headers.x-github-event}`: literal text with `{path}`
 * placeholders read from a scope object. Compiled once; no expressions, so nothing to inject.
 */
export type TemplateScope = Record<string, unknown>;
export type CompiledTemplate = (scope: TemplateScope) => string;

const PLACEHOLDER = /\{([^{}]+)\}/g;

export function templateRoots(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!.trim().split('.')[0]!);
}

export function compileTemplate(template: string): CompiledTemplate {
  const parts: (string | string[])[] = [];
  let last = 0;
  for (const m of template.matchAll(PLACEHOLDER)) {
    if (m.index! > last) parts.push(template.slice(last, m.index));
    parts.push(m[1]!.trim().split('.'));
    last = m.index! + m[0].length;
  }
  if (last < template.length) parts.push(template.slice(last));
  return (scope) => {
    let out = '';
    for (const part of parts) out += typeof part === 'string' ? part : stringify(lookup(scope, part));
    return out;
  };
}

function lookup(scope: unknown, path: string[]): unknown {
  let value = scope;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || !Object.prototype.hasOwnProperty.call(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function stringify(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.map(stringify).join(',');
  return typeof value === 'object' ? '' : String(value);
}
