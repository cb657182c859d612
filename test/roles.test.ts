/** Processes can take some roles and some functions only. */
import { bootSwitchboard, startRecorder, waitFor } from './helpers/index.js';

const yaml = (recorderUrl: string) => `
connectors:
  - name: recorder
    type: http
    config: { baseUrl: "${recorderUrl}", allowPrivateNetworks: true }
functions:
  - name: first
    runtime: node
    module: ./functions/record.js
    trigger: { type: com.example.x }
  - name: second
    runtime: node
    module: ./functions/record.js
    trigger: { type: com.example.x }
`;

test('a worker limited to some functions runs only those; the others wait in their queues', async () => {
  const recorder = await startRecorder();
  const t = await bootSwitchboard(yaml(recorder.url), { gateway: false, worker: { functions: ['second'] } });
  try {
    await t.sb.bus.publish([{ specversion: '1.0', id: 'r1', source: '/t', type: 'com.example.x' }]);
    await waitFor(() => recorder.requests.length === 1, 'the second function to run');
    expect(recorder.requests[0]!.json.function).toBe('second');
    expect(await t.sb.bus.queue('first')!.getWaitingCount()).toBe(1);
    expect(t.sb.url).toBeUndefined();
  } finally {
    await t.close();
    await recorder.close();
  }
});

test('naming a function that does not exist fails at start with the known names', async () => {
  await expect(bootSwitchboard(yaml('http://127.0.0.1:9'), { gateway: false, worker: { functions: ['third'] } })).rejects.toThrow(
    'unknown function(s): third; known: first, second',
  );
});
