/**
 * The CLI as users run it: `switchboard dev` as a real process (TypeScript functions compiled by tsx),
 * the private Redis fallback, and `switchboard dlq` against a real bus.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { jest } from '@jest/globals';
import { Queue, Worker } from 'bullmq';
import { main } from '../src/cli/main.js';
import { ensureRedis, findOnPath, freePort, pingRedis } from '../src/cli/embedded-redis.js';
import { deleteKeys, FIXTURES, REDIS_URL, startRecorder, uniquePrefix, waitFor } from './helpers/index.js';
import { spawnCli, writeConfig, type CliProcess } from './helpers/cli.js';

describe('switchboard dev', () => {
  let cli: CliProcess | undefined;
  const prefix = uniquePrefix('cli');
  afterAll(async () => {
    cli?.child.kill('SIGKILL');
    await deleteKeys(prefix);
  });

  test('serves a webhook whose TypeScript function chains into a JS function that calls a backend; exits cleanly on SIGTERM', async () => {
    const recorder = await startRecorder();
    const file = writeConfig(`
redis: { prefix: ${prefix} }
admin: { enabled: false }
connectors:
  - name: orders
    type: webhook
    config:
      secret: \${env:ORDERS_SECRET}
      verify:
        scheme: hmac
        header: x-signature
      event: { type: com.example.order.created }
  - name: recorder
    type: http
    config: { baseUrl: "${recorder.url}", allowPrivateNetworks: true }
functions:
  - name: enrich
    runtime: node
    module: ${path.join(FIXTURES, 'functions/echo.ts')}
    trigger: { type: com.example.order.created }
    emit: { type: com.example.order.enriched }
  - name: deliver
    runtime: node
    module: ${path.join(FIXTURES, 'functions/record.js')}
    trigger: { type: com.example.order.enriched }
`);
    cli = spawnCli(['dev', '--config', file, '--port', '0'], { ORDERS_SECRET: 'orders-secret-value' });
    try {
      const url = await cli.url();
      const body = JSON.stringify({ order: 17 });
      const res = await fetch(`${url}/hooks/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-signature': createHmac('sha256', 'orders-secret-value').update(body).digest('hex') },
        body,
      });
      expect(res.status).toBe(202);
      const [call] = await waitFor(() => recorder.requests.length > 0 && recorder.requests, 'the chained function to call the backend');
      expect(call!.json).toMatchObject({ function: 'deliver', event: { type: 'com.example.order.enriched', data: { order: 17, seenBy: 'enrich' } } });
      cli.child.kill('SIGTERM');
      expect(await cli.exited).toBe(0);
      expect(cli.output()).not.toContain('orders-secret-value');
    } finally {
      await recorder.close();
    }
  });
});

describe('Redis for dev', () => {
  test('starts a private redis-server when nothing answers locally, and stops it', async () => {
    const binary = findOnPath('redis-server');
    if (!binary) return; // the message case below still runs
    const closedPort = await freePort();
    const handle = await ensureRedis(undefined, { PATH: process.env.PATH }, { port: closedPort });
    try {
      expect(handle.embedded).toBe(true);
      const port = Number(new URL(handle.url).port);
      expect(await pingRedis('127.0.0.1', port)).toBe(true);
    } finally {
      await handle.stop();
    }
    expect(await pingRedis('127.0.0.1', Number(new URL(handle.url).port))).toBe(false);
  });

  test('says in one line how to get Redis when there is none', async () => {
    const closedPort = await freePort();
    await expect(ensureRedis(undefined, { PATH: '' }, { port: closedPort })).rejects.toThrow(
      `No Redis answers on 127.0.0.1:${closedPort} and redis-server is not on PATH: install Redis (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL.`,
    );
  });

  test('uses REDIS_URL or the configured URL as given', async () => {
    expect((await ensureRedis('redis://example:1', {})).url).toBe('redis://example:1');
    expect((await ensureRedis(undefined, { REDIS_URL: 'redis://other:2' })).url).toBe('redis://other:2');
  });
});

describe('switchboard dlq', () => {
  const prefix = uniquePrefix('dlq');
  afterAll(() => deleteKeys(prefix));

  test('list shows dead letters and replay runs them again', async () => {
    const file = writeConfig(`
redis: { prefix: ${prefix} }
functions:
  - name: always-fails
    runtime: node
    module: ${path.join(FIXTURES, 'functions/flaky.js')}
    trigger: { type: com.example.fail }
`);
    const queue = new Queue('fn.always-fails', { connection: { url: REDIS_URL }, prefix });
    const eventId = randomUUID();
    await queue.add('com.example.fail', { specversion: '1.0', id: eventId, source: '/t', type: 'com.example.fail' }, { jobId: 'jtest1', attempts: 1 });
    const worker = new Worker('fn.always-fails', async () => { throw new Error('boom'); }, { connection: { url: REDIS_URL }, prefix });
    await waitFor(async () => (await queue.getJob('jtest1'))?.isFailed(), 'the job to fail');
    await worker.close();

    const run = async (argv: string[]) => {
      const out: string[] = [];
      const log = jest.spyOn(console, 'log').mockImplementation((m: string) => void out.push(m));
      try {
        return { code: await main(argv), out: out.join('\n') };
      } finally {
        log.mockRestore();
      }
    };
    const savedUrl = process.env.REDIS_URL;
    process.env.REDIS_URL = REDIS_URL;
    const listed = await run(['dlq', 'list', '--config', file, '--json']);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.out)).toEqual([expect.objectContaining({ function: 'always-fails', jobId: 'jtest1', error: 'boom', event: expect.objectContaining({ id: eventId }) })]);
    const replayed = await run(['dlq', 'replay', '--config', file, '--function', 'always-fails', '--job', 'jtest1']);
    expect(replayed).toEqual({ code: 0, out: 'replayed 1 dead letter(s): always-fails/jtest1' });
    expect(await (await queue.getJob('jtest1'))!.getState()).toBe('waiting');
    expect((await run(['dlq', 'list', '--config', file])).out).toBe('no dead letters');
    await queue.close();
    if (savedUrl === undefined) delete process.env.REDIS_URL;
    else process.env.REDIS_URL = savedUrl;
  });
});

describe('switchboard send', () => {
  test('signs a payload with the connector’s own scheme and posts it; the gateway accepts it', async () => {
    const prefix = uniquePrefix('send');
    const file = writeConfig(`
redis: { prefix: ${prefix} }
connectors:
  - name: stripe
    type: webhook
    config: { provider: stripe, secret: "\${env:STRIPE_SECRET}" }
  - name: events
    type: cloudevents
    config: { auth: { scheme: bearer }, secret: "\${env:STRIPE_SECRET}" }
functions:
  - name: billing
    runtime: node
    module: ${path.join(FIXTURES, 'functions/record.js')}
    trigger: { source: { prefix: "" } }
`);
    const payload = path.join(path.dirname(file), 'invoice.json');
    writeFileSync(payload, JSON.stringify({ id: 'evt_send_1', type: 'invoice.paid', created: 1790000000 }));
    const ce = path.join(path.dirname(file), 'event.json');
    writeFileSync(ce, JSON.stringify({ specversion: '1.0', id: 'ce-send-1', source: '/cli', type: 'com.example.sent' }));
    const savedEnv = { ...process.env };
    process.env.STRIPE_SECRET = 'whsec_cli_send_secret';
    process.env.REDIS_URL = REDIS_URL;
    const { loadConfig } = await import('../src/config/load.js');
    const { startSwitchboard } = await import('../src/switchboard.js');
    const { captureLogs } = await import('./helpers/index.js');
    const sb = await startSwitchboard({ config: await loadConfig(file), gateway: true, worker: false, listen: { host: '127.0.0.1', port: 0 }, log: captureLogs().log });
    const out: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((m: string) => void out.push(m));
    try {
      expect(await main(['send', '--config', file, '--connector', 'stripe', '--file', payload, '--url', sb.url!])).toBe(0);
      expect(out[0]).toBe('202 {"id":"evt_send_1","status":"accepted"}');
      expect(await main(['send', '--config', file, '--connector', 'events', '--file', ce, '--url', sb.url!])).toBe(0);
      expect(out[1]).toBe('202 {"ids":["ce-send-1"],"status":"accepted"}');
      const ids = (await sb.bus.queue('billing')!.getJobs(['waiting'])).map((j) => (j.data as { id: string }).id).sort();
      expect(ids).toEqual(['ce-send-1', 'evt_send_1']);
      // A connector that cannot be found is named with the known ones.
      await expect(main(['send', '--config', file, '--connector', 'nope', '--file', payload])).rejects.toThrow('no webhook or cloudevents connector named "nope"; known: stripe, events');
    } finally {
      log.mockRestore();
      await sb.close();
      process.env = savedEnv;
      await deleteKeys(prefix);
    }
  });
});
