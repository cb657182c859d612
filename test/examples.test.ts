/** The example in examples/ (what `npm start` serves) works end to end as the README says. */
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config/load.js';
import { freePort } from '../src/cli/embedded-redis.js';
import { startSwitchboard } from '../src/switchboard.js';
import { captureLogs, deleteKeys, jestImporter, REDIS_URL, uniquePrefix, waitFor } from './helpers/index.js';

const EXAMPLES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../examples');

test('a signed GitHub push runs the whole example workflow: TypeScript → JavaScript → HTTP connector → webhook → JavaScript', async () => {
  const config = await loadConfig(path.join(EXAMPLES, 'switchboard.yaml'));
  const port = await freePort();
  config.redis.prefix = uniquePrefix('example');
  // The example calls its own gateway on 8080; here the gateway has a free port.
  (config.connectors.find((c) => c.name === 'team-chat')!.config as { baseUrl: string }).baseUrl = `http://127.0.0.1:${port}`;
  const logs = captureLogs(config.secrets);
  const sb = await startSwitchboard({ config, gateway: true, worker: true, redisUrl: REDIS_URL, log: logs.log, listen: { host: '127.0.0.1', port }, importModule: jestImporter });
  try {
    const secret = readFileSync(path.join(EXAMPLES, 'secrets/github-webhook-secret'), 'utf8').trim();
    const body = JSON.stringify({ ref: 'refs/heads/main', repository: { full_name: 'octo/hello', html_url: 'https://github.com/octo/hello' }, pusher: { name: 'octocat' }, commits: [{ message: 'Fix typo' }, { message: 'Add tests' }] });
    const res = await fetch(`${sb.url}/hooks/github`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': randomUUID(), 'x-hub-signature-256': 'sha256=' + createHmac('sha256', secret).update(body).digest('hex') },
      body,
    });
    expect(res.status).toBe(202);
    const shown = await waitFor(() => logs.records().find((l) => l.function === 'show-message' && typeof l.text === 'string'), 'the chat message at the end of the workflow', 15_000);
    expect(shown.text).toBe('octocat pushed 2 commit(s) to octo/hello refs/heads/main');
    expect(logs.lines.join('\n')).not.toContain(secret);
  } finally {
    await sb.close();
    await deleteKeys(config.redis.prefix);
  }
});
