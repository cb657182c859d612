/**
 * Attribute templates such as `com.github.{headers.x-github-event}`: literal text with `{path}`
 * placeholders read from a scope object. Compiled once; no expressions, so nothing to inject.
 */
export type TemplateScope = Record<string, unknown>;
/** Renders a template; `missing` lists the placeholders that had no value (rendered as ''). */
export type CompiledTemplate = (scope: TemplateScope) => { value: string; missing: string[] };

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
    let value = '';
    const missing: string[] = [];
    for (const part of parts) {
      if (typeof part === 'string') {
        value += part;
        continue;
      }
      const text = stringify(lookup(scope, part));
      if (text === '') missing.push(`{${part.join('.')}}`);
      value += text;
    }
    return { value, missing };
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
