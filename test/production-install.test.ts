/**
 * What the image's last stage does, without a Docker engine: pack the project, install the tarball with
 * production dependencies only into an empty folder, start the gateway from it, and get 200 from /healthz.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deleteKeys, REDIS_URL, uniquePrefix, waitFor } from './helpers/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const npm = (args: string[], cwd: string) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_loglevel: 'error' } });

test('the packed tarball, installed with production dependencies only, starts a gateway that answers /healthz', async () => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'swb-prod-'));
  npm(['pack', '--ignore-scripts', '--pack-destination', work], ROOT);
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'))!;
  const app = path.join(work, 'app');
  execFileSync('mkdir', ['-p', app]);
  npm(['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', path.join(work, tarball)], app);
  expect(existsSync(path.join(app, 'node_modules/typescript'))).toBe(false);
  expect(existsSync(path.join(app, 'node_modules/jest'))).toBe(false);

  const prefix = uniquePrefix('prod');
  const config = path.join(work, 'switchboard.yaml');
  writeFileSync(config, `redis: { prefix: ${prefix} }\nadmin: { enabled: false }\nconnectors:\n  - { name: open, type: webhook, config: { verify: { scheme: none } } }\n`);
  let output = '';
  const child = spawn(path.join(app, 'node_modules/.bin/switchboard'), ['gateway', '--config', config, '--port', '0'], { cwd: app, env: { ...process.env, REDIS_URL, NODE_ENV: 'production' } });
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  try {
    const url = await waitFor(() => /listening on (http:\/\/[\d.:]+)/.exec(output)?.[1], 'the installed gateway to listen', 30_000);
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect((await fetch(`${url}/hooks/open`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(202);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await deleteKeys(prefix);
  }
}, 300_000);
