import { ThrottledWarning } from '../src/log.js';
import { captureLogs } from './helpers/index.js';

test('a throttled warning logs the first failure, then at most one line per period with the count since the last', async () => {
  const logs = captureLogs();
  const warning = new ThrottledWarning(logs.log, 'writes failing', 50);
  for (let i = 0; i < 5; i++) warning.report(`error ${i}`);
  expect(logs.records().map((r) => [r.msg, r.times, r.err])).toEqual([['writes failing', 1, 'error 0']]);
  await new Promise((r) => setTimeout(r, 60));
  warning.report('error 5');
  expect(logs.records().map((r) => [r.times, r.err])).toEqual([
    [1, 'error 0'],
    [5, 'error 5'],
  ]);
});
