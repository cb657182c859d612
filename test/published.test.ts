/** Generated and hand-kept lists must agree with the code. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { renderSchemas } from '../src/config/publish.js';
import { ERROR_CODES } from '../src/errors.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

test('published JSON schemas are up to date (run `npm run schemas` after changing a schema)', () => {
  for (const [file, content] of renderSchemas()) {
    expect({ file, content: readFileSync(path.join(ROOT, file), 'utf8') }).toEqual({ file, content });
  }
});

test('the published schema accepts the example config and rejects a wrong connector config', () => {
  const ajv = new Ajv({ strict: false });
  const validate = ajv.compile(JSON.parse(readFileSync(path.join(ROOT, 'schemas/switchboard.schema.json'), 'utf8')));
  const example = parse(readFileSync(path.join(ROOT, 'examples/switchboard.yaml'), 'utf8'));
  expect(validate(example)).toBe(true);
  example.connectors[0].config.provider = 'nope';
  expect(validate(example)).toBe(false);
});

test('every error code is documented in docs/errors.md, and every documented code exists', () => {
  const doc = readFileSync(path.join(ROOT, 'docs/errors.md'), 'utf8');
  const documented = [...doc.matchAll(/^\| `(SWB_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]);
  expect(documented.sort()).toEqual(Object.keys(ERROR_CODES).sort());
});
