/**
 * The dashboard in a real browser (playwright-core driving Debian's chromium): a freshly sent event shows
 * in the live tail, its journal opens, and a dead letter is replayed with the button — then the function
 * has run again.
 */
import { existsSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { chromium, type Browser } from 'playwright-core';
import { buildAdmin } from '../src/ops/admin.js';
import { bootSwitchboard, startRecorder, waitFor } from './helpers/index.js';

const CHROMIUM = '/usr/bin/chromium';

(existsSync(CHROMIUM) ? test : test.skip)('live tail, journal and the replay button', async () => {
  const recorder = await startRecorder();
  let fail = true;
  recorder.respond = (r) => (r.url === '/flaky' ? { status: 200, body: { fail } } : { status: 200, body: {} });
  const t = await bootSwitchboard(`
connectors:
  - { name: open, type: webhook, config: { verify: { scheme: none }, event: { id: "{headers.x-id}" } } }
  - { name: recorder, type: http, config: { baseUrl: "${recorder.url}", allowPrivateNetworks: true } }
functions:
  - { name: good, runtime: node, module: ./functions/record.js, trigger: { type: dev.switchboard.webhook } }
  - { name: bad, runtime: node, module: ./functions/flaky.js, trigger: { type: com.example.fragile }, retry: { attempts: 1 } }
`);
  const admin = await buildAdmin({ switchboard: t.sb, log: t.logs.log, auth: 'bearer', token: 'ui-token' });
  const adminUrl = await admin.listen({ host: '127.0.0.1', port: 0 });
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage();
    await page.goto(`${adminUrl}/admin/ui#token=ui-token`);

    const id = `ui-${randomUUID()}`;
    expect((await fetch(`${t.sb.url}/hooks/open`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-id': id }, body: '{"hello":"ui"}' })).status).toBe(202);
    await page.locator(`a.event[data-id="${id}"]`).waitFor({ timeout: 10_000 });
    await waitFor(async () => (await t.sb.journal!.get(id))?.some((e) => e.kind === 'attempt'), 'the run');
    await page.locator(`a.event[data-id="${id}"]`).click();
    await page.locator('#journal-id', { hasText: id }).waitFor();
    // The connector's counters and rate are on the page.
    await page.locator('#connectors td', { hasText: 'open' }).waitFor();
    const journal = await page.locator('#journal-entries').textContent();
    expect(journal).toMatch(/received/);
    expect(journal).toMatch(/attempt/);

    await t.sb.bus.publish([{ specversion: '1.0', id: `dl-${id}`, source: '/ui', type: 'com.example.fragile' }]);
    const button = page.locator('#dead-letters button', { hasText: 'Replay' });
    await button.waitFor({ timeout: 15_000 });
    fail = false;
    await button.click();
    await waitFor(() => recorder.requests.filter((r) => r.url === '/flaky' && r.json.id === `dl-${id}`).length === 2, 'the function to run again after the replay');
    await page.locator('#dead-letters button').waitFor({ state: 'detached', timeout: 10_000 });

    // The BullMQ queue view opens from the dashboard, authorized by the cookie it set.
    await page.locator('#queues').click();
    await page.waitForURL(/\/admin\/queues/);
    await page.getByText('fn.good').first().waitFor({ timeout: 15_000 });
  } finally {
    await browser?.close();
    await admin.close();
    await t.close();
    await recorder.close();
  }
}, 60_000);
