/** Third-party connectors named under `plugins:` join the registry and are validated like built-ins. */
import path from 'node:path';
import { ConfigError, parseConfig } from '../src/config/load.js';
import { FIXTURES } from './helpers/index.js';

const FILE = path.join(FIXTURES, 'switchboard.yaml');

test('a plugin connector is loaded, validated and usable', async () => {
  const config = await parseConfig('plugins: [./plugins/greeting-connector.js]\nconnectors:\n  - name: hello\n    type: greeting\n    config: { salutation: Hi }\n', FILE, { env: {} });
  const spec = config.connectors[0]!;
  const outbound = spec.definition.outbound!({ name: 'hello', config: spec.config, log: undefined as never, signal: new AbortController().signal });
  expect((outbound.api as { greet(n: string): string }).greet('Ada')).toBe('Hi, Ada!');
});

test("a plugin connector's config errors carry their line", async () => {
  const err = await parseConfig('plugins: [./plugins/greeting-connector.js]\nconnectors:\n  - name: hello\n    type: greeting\n    config:\n      salutation: 3\n', FILE, { env: {} }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as ConfigError).issues).toEqual([
    { file: 'test/fixtures/switchboard.yaml', line: 6, column: 19, path: 'connectors[0].config.salutation', message: 'expected string, got integer' },
  ]);
});

test('a plugin that cannot be loaded is reported at its line', async () => {
  const err = (await parseConfig('plugins:\n  - switchboard-connector-that-does-not-exist\n', FILE, { env: {} }).catch((e: unknown) => e)) as ConfigError;
  expect(err.issues[0]).toMatchObject({ line: 2, path: 'plugins[0]' });
  expect(err.issues[0]!.message).toMatch(/^cannot load plugin "switchboard-connector-that-does-not-exist": Cannot find module/);
});
