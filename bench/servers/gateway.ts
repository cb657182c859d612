/** Switchboard's gateway role with one signed webhook connector routed to one function queue. */
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { startSwitchboard } from '../../src/switchboard.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// SCALE=N adds N-1 more webhook connectors and functions, to show routing is a lookup, not a scan.
const scale = Number(process.env.SCALE ?? 1);
const extraConnectors = Array.from({ length: scale - 1 }, (_, i) => `  - { name: hook-${i}, type: webhook, config: { provider: github, secret: "\${env:BENCH_SECRET}" } }`).join('\n');
const extraFunctions = Array.from({ length: scale - 1 }, (_, i) => `  - { name: fn-${i}, runtime: node, module: ${path.join(here, 'noop.js')}, trigger: { type: com.example.other-${i} } }`).join('\n');
const yaml = `
redis: { prefix: ${process.env.PREFIX ?? 'bench-gateway'} }
bus: { highWaterMark: 0 }
journal: { enabled: ${process.env.JOURNAL !== 'off'} }
connectors:
  - name: github
    type: webhook
    config:
      provider: github
      secret: \${env:BENCH_SECRET}
functions:
  - name: noop
    runtime: node
    module: ${path.join(here, 'noop.js')}
    trigger: { type: com.github.push }
${extraFunctions}
`.replace('functions:', `${extraConnectors}\nfunctions:`);
const config = await parseConfig(yaml, path.join(here, 'bench.yaml'));
const sb = await startSwitchboard({
  config,
  gateway: true,
  worker: false,
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  log: createLogger({ level: 'warn' }),
  listen: { host: '127.0.0.1', port: Number(process.env.PORT ?? 0) },
});
console.log(`READY ${new URL(sb.url!).port}`);
process.on('SIGTERM', () => { void sb.close().finally(() => process.exit(0)); });
