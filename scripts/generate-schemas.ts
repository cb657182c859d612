/** Writes schemas/switchboard.schema.json and connectors/<type>/config.schema.json from the code. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderSchemas } from '../src/config/publish.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
for (const [file, content] of renderSchemas()) {
  writeFileSync(path.join(root, file), content);
  console.log(`wrote ${file}`);
}
