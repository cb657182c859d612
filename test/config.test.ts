/** Config loading: every kind of mistake is reported with file, line, column, field and expectation. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { jest } from '@jest/globals';
import path from 'node:path';
import { ConfigError, parseConfig, type ConfigIssue } from '../src/config/load.js';
import { main } from '../src/cli/main.js';
import { FIXTURES } from './helpers/index.js';

const FILE = path.join(FIXTURES, 'switchboard.yaml');

async function issuesOf(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<ConfigIssue[]> {
  try {
    await parseConfig(yaml, FILE, { env });
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected the config to be rejected');
}

const VALID = `
connectors:
  - name: github
    type: webhook
    config:
      secret: \${env:GH_SECRET}
      verify:
        scheme: github
functions:
  - name: on-push
    runtime: node
    module: ./functions/record.js
    trigger: { type: com.github.push }
`;

describe('config loading', () => {
  test('a valid file loads with defaults applied and secrets resolved', async () => {
    const config = await parseConfig(VALID, FILE, { env: { GH_SECRET: 's3cret-value' } });
    expect(config.connectors[0]).toMatchObject({ name: 'github', type: 'webhook', config: { secret: 's3cret-value', verify: { scheme: 'github' }, event: { idFallback: 'body-hash' } } });
    expect(config.functions[0]).toMatchObject({
      name: 'on-push',
      queue: 'fn.on-push',
      runtime: { kind: 'node', module: path.join(FIXTURES, 'functions/record.js'), isolated: false },
      attempts: 3,
      backoff: { type: 'exponential', delay: 1000 },
      timeoutMs: 30_000,
      concurrency: 10,
    });
    expect(config.redis.prefix).toBe('switchboard');
    expect(config.bus).toEqual({ dedupWindowMs: 72 * 3600 * 1000, enqueueTimeoutMs: 2000, highWaterMark: 100_000, keepCompleted: 0, lockDurationMs: 30_000, waitingEvents: false });
    expect(config.gateway).toEqual({ host: '0.0.0.0', port: 8080, bodyLimit: 1024 * 1024, requestTimeoutMs: 30_000 });
    expect(config.secrets).toEqual(['s3cret-value']);
  });

  test('bad YAML names the line and column', async () => {
    const issues = await issuesOf('connectors:\n  - name: a\n    type: [webhook\n');
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ file: 'test/fixtures/switchboard.yaml', line: 4 });
    expect(issues[0]!.message).toMatch(/flow sequence|Missing/i);
  });

  test('an unknown connector type lists the known ones', async () => {
    const issues = await issuesOf('connectors:\n  - name: a\n    type: webhok\n');
    expect(issues).toEqual([
      { file: 'test/fixtures/switchboard.yaml', line: 3, column: 11, path: 'connectors[0].type', message: 'unknown connector type "webhok"; known types: cloudevents, cron, github, google, http, mqtt, nats, pubsub, rabbitmq, sendgrid, slack, sqs, twilio, webhook' },
    ]);
  });

  test('a missing field names the field and the line of its object', async () => {
    const issues = await issuesOf(VALID.replace('    module: ./functions/record.js\n', ''), { GH_SECRET: 'x' });
    expect(issues).toEqual([
      { file: 'test/fixtures/switchboard.yaml', line: 10, column: 5, path: 'functions[0].module', message: 'missing required field "module" for runtime node' },
    ]);
  });

  test('a wrong type says what was expected and what was found', async () => {
    const issues = await issuesOf(VALID.replace('trigger: { type: com.github.push }', 'trigger: { type: com.github.push }\n    concurrency: ten'), { GH_SECRET: 'x' });
    expect(issues).toEqual([
      { file: 'test/fixtures/switchboard.yaml', line: 14, column: 18, path: 'functions[0].concurrency', message: 'expected integer, got string' },
    ]);
  });

  test('a wrong type inside a connector config is located in the file', async () => {
    const issues = await issuesOf(VALID.replace('scheme: github', 'scheme: 42'), { GH_SECRET: 'x' });
    expect(issues).toEqual([
      { file: 'test/fixtures/switchboard.yaml', line: 8, column: 17, path: 'connectors[0].config.verify.scheme', message: 'expected string, got integer' },
    ]);
    const enumIssues = await issuesOf(VALID.replace('scheme: github', 'scheme: gitlub'), { GH_SECRET: 'x' });
    expect(enumIssues[0]).toMatchObject({ line: 8, message: expect.stringMatching(/^expected one of: "github", "stripe", .*"hmac", "bearer", "basic", "none"$/) });
  });

  test('an unknown field is reported at its key with the allowed ones', async () => {
    const issues = await issuesOf(VALID.replace('    runtime: node\n', '    runtime: node\n    retries: 3\n'), { GH_SECRET: 'x' });
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ line: 12, column: 5, path: 'functions[0].retries' });
    expect(issues[0]!.message).toMatch(/^unknown field "retries"; expected one of: name, runtime, module, isolated, .* retry, timeout/);
  });

  test('duplicate names are errors that point at the second one', async () => {
    const yaml = VALID + '  - name: on-push\n    runtime: node\n    module: ./functions/record.js\n    trigger: { type: x }\n';
    const issues = await issuesOf(yaml, { GH_SECRET: 'x' });
    expect(issues).toEqual([
      { file: 'test/fixtures/switchboard.yaml', line: 14, column: 11, path: 'functions[1].name', message: 'duplicate function name "on-push" (first defined at line 10)' },
    ]);
  });

  test('duplicate connector names too', async () => {
    const yaml = 'connectors:\n  - name: a\n    type: cron\n    config: { schedule: "* * * * *" }\n  - name: a\n    type: cron\n    config: { schedule: "* * * * *" }\n';
    expect(await issuesOf(yaml)).toEqual([
      { file: 'test/fixtures/switchboard.yaml', line: 5, column: 11, path: 'connectors[1].name', message: 'duplicate connector name "a" (first defined at line 2)' },
    ]);
  });

  test('an unresolved secret reference names the variable or file', async () => {
    expect(await issuesOf(VALID)).toEqual([
      {
        file: 'test/fixtures/switchboard.yaml',
        line: 6,
        column: 15,
        path: 'connectors[0].config.secret',
        message: 'unresolved secret reference ${env:GH_SECRET}: environment variable GH_SECRET is not set',
      },
    ]);
    const fileIssues = await issuesOf(VALID.replace('${env:GH_SECRET}', '${file:./no-such-secret}'));
    expect(fileIssues[0]!.message).toBe(`unresolved secret reference \${file:./no-such-secret}: cannot read ${path.join(FIXTURES, 'no-such-secret')} (ENOENT)`);
    const kindIssues = await issuesOf(VALID.replace('${env:GH_SECRET}', '${vault:gh}'));
    expect(kindIssues[0]!.message).toBe('unknown reference kind "${vault:…}"; use ${env:NAME} or ${file:PATH}');
  });

  test('a secret written as a literal is refused', async () => {
    const issues = await issuesOf(VALID.replace('${env:GH_SECRET}', 'plain-text-secret'));
    expect(issues).toEqual([
      {
        file: 'test/fixtures/switchboard.yaml',
        line: 6,
        column: 15,
        path: 'connectors[0].config.secret',
        message: 'must be a secret reference such as ${env:NAME} or ${file:PATH}, not a literal value',
      },
    ]);
  });

  test('file references are read relative to the config file, without the trailing newline', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'swb-config-'));
    writeFileSync(path.join(dir, 'gh-secret'), 'from-a-file\n');
    const config = await parseConfig(VALID.replace('${env:GH_SECRET}', '${file:gh-secret}').replace('./functions/record.js', path.join(FIXTURES, 'functions/record.js')), path.join(dir, 'sb.yaml'), { env: {} });
    expect((config.connectors[0]!.config as { secret: string }).secret).toBe('from-a-file');
  });

  test('a missing function module is reported at its line', async () => {
    const issues = await issuesOf(VALID.replace('./functions/record.js', './functions/nope.js'), { GH_SECRET: 'x' });
    expect(issues).toEqual([
      { file: 'test/fixtures/switchboard.yaml', line: 12, column: 13, path: 'functions[0].module', message: `module file not found: ${path.join(FIXTURES, 'functions/nope.js')}` },
    ]);
  });

  test('connector-specific checks are reported at their line', async () => {
    const issues = await issuesOf('connectors:\n  - name: tick\n    type: cron\n    config:\n      schedule: "every minute"\n      timezone: Mars/Olympus\n');
    expect(issues.map((i) => [i.line, i.path])).toEqual([
      [5, 'connectors[0].config.schedule'],
      [6, 'connectors[0].config.timezone'],
    ]);
    expect(issues[1]!.message).toBe('unknown time zone "Mars/Olympus"');
  });

  test('several problems are all reported, in file order', async () => {
    const issues = await issuesOf('connectors:\n  - name: Bad_Name\n    type: nope\nfunctions:\n  - name: f\n    runtime: python\n    module: ./functions/record.js\n    trigger: {}\n');
    expect(issues.map((i) => `${i.line} ${i.path}`)).toEqual(['2 connectors[0].name', '6 functions[0].runtime', '8 functions[0].trigger']);
  });

  test('duplicate keys, custom tags and alias bombs are refused', async () => {
    expect((await issuesOf('gateway:\n  port: 1\n  port: 2\n'))[0]).toMatchObject({ line: 3, message: 'Map keys must be unique' });
    expect((await issuesOf('gateway:\n  port: !!js/function "f"\n'))[0]!.message).toMatch(/tag/i);
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 8; i++) bomb.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill('*' + String.fromCharCode(96 + i)).join(',')}]`);
    const started = Date.now();
    const issues = await issuesOf(bomb.join('\n') + '\n');
    expect(issues[0]!.message).toMatch(/aliases/);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('switchboard validate', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'swb-validate-'));
  const capture = async (argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((m: string) => void out.push(m));
    const error = jest.spyOn(console, 'error').mockImplementation((m: string) => void err.push(m));
    try {
      return { code: await main(argv), out: out.join('\n'), err: err.join('\n') };
    } finally {
      log.mockRestore();
      error.mockRestore();
    }
  };

  test('exits 0 on a valid file', async () => {
    const file = path.join(dir, 'ok.yaml');
    writeFileSync(file, 'connectors:\n  - name: tick\n    type: cron\n    config: { schedule: "* * * * *" }\n');
    const result = await capture(['validate', file]);
    expect(result).toMatchObject({ code: 0, out: `${file}: valid (1 connectors, 0 functions)` });
  });

  test('exits 1 with file:line:column messages otherwise', async () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'connectors:\n  - name: tick\n    type: crn\n');
    const result = await capture(['validate', file]);
    expect(result.code).toBe(1);
    expect(result.err).toBe(`${path.relative(process.cwd(), file)}:3:11 connectors[0].type: unknown connector type "crn"; known types: cloudevents, cron, github, google, http, mqtt, nats, pubsub, rabbitmq, sendgrid, slack, sqs, twilio, webhook`);
  });

  test('a missing file is a clear error', async () => {
    const result = await capture(['validate', path.join(dir, 'none.yaml')]);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/^cannot read config file .*none\.yaml: ENOENT/);
  });
});
