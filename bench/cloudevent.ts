/**
 * Why the CloudEvents model is hand-written: compares, in one process, validating a received JSON
 * event with our parseCloudEvent against constructing and validating it with the `cloudevents` SDK.
 * Prints events/s for both and the ratio; also counts how many invalid conformance events each accepts.
 *
 *   npx tsx bench/cloudevent.ts
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CloudEvent as SdkCloudEvent } from 'cloudevents';
import { parseCloudEvent } from '../src/events/cloudevent.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const sample = {
  specversion: '1.0',
  id: 'a1b2c3d4-0000-4000-8000-000000000000',
  source: 'https://github.com/octo/hello',
  type: 'com.github.push',
  subject: 'refs/heads/main',
  time: '2026-11-25T08:00:00.123Z',
  datacontenttype: 'application/json',
  connector: 'github',
  data: { ref: 'refs/heads/main', repository: { full_name: 'octo/hello' }, commits: [{ message: 'Fix' }] },
};

function rate(label: string, fn: () => void, ms = 1500): number {
  for (let i = 0; i < 2000; i++) fn(); // warm-up
  let n = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 200; i++) fn();
    n += 200;
  }
  const perSecond = n / (ms / 1000);
  console.log(`${label.padEnd(28)} ${Math.round(perSecond).toLocaleString('en').padStart(12)} events/s`);
  return perSecond;
}

const rounds: { ours: number; sdk: number }[] = [];
for (let round = 0; round < 3; round++) {
  const ours = rate('switchboard parseCloudEvent', () => parseCloudEvent(sample));
  const sdk = rate('cloudevents SDK new + validate', () => new SdkCloudEvent(sample as never, true).validate());
  rounds.push({ ours, sdk });
}
const ratios = rounds.map((r) => r.ours / r.sdk).sort((a, b) => a - b);
console.log(`\nratio ours / SDK: median ${ratios[1]!.toFixed(2)} (min ${ratios[0]!.toFixed(2)}, max ${ratios[2]!.toFixed(2)})`);

const conformance = path.resolve(here, '../../shared/cloudevents-conformance/format-json/invalid-events.json');
try {
  const invalid = JSON.parse(readFileSync(conformance, 'utf8')).tests as { event: unknown }[];
  const accepts = (f: (e: unknown) => void) => invalid.filter((t) => { try { f(t.event); return true; } catch { return false; } }).length;
  console.log(`invalid conformance events accepted: ours ${accepts(parseCloudEvent)}, SDK ${accepts((e) => new SdkCloudEvent(e as never, true).validate())} (of ${invalid.length})`);
} catch {
  console.log('(conformance data not found beside the repository; skipped the acceptance count)');
}
