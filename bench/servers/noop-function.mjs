// The no-op function of the end-to-end runs. It records when it started against when the load
// generator sent the request (`sent`, epoch ms with sub-ms precision, in the webhook body).
// `startedAt`: when each event's run started, by delivery (the bench joins it with the gateway's receipt times).
import { DeliveryTimes } from './delivery-times.mjs';

const state = { started: [], startedAt: new DeliveryTimes(), runs: 0 };
const now = () => performance.timeOrigin + performance.now();

// NOOP_MS makes each run take that long: the slow worker of the overload run.
const busyMs = Number(process.env.NOOP_MS ?? 0);

/** The bench waiting for a run count (`{ until }`): answered by the run that reaches it, not by polling. */
let waiter;

export default async (event) => {
  state.runs++;
  if (waiter && state.runs >= waiter.count) waiter.reached();
  const sent = event?.data?.sent;
  if (typeof sent === 'number') {
    const at = now();
    state.started.push(at - sent);
    state.startedAt.set(event.id, at);
  }
  if (busyMs) await new Promise((r) => setTimeout(r, busyMs));
  return null;
};

/** Resolves once `count` runs have started (or after 30 s), with the answer to 'runs'. */
function untilRuns(count) {
  return new Promise((resolve) => {
    const reached = () => {
      clearTimeout(timer);
      waiter = undefined;
      resolve(statsMessage('runs'));
    };
    const timer = setTimeout(reached, 30_000);
    if (state.runs >= count) reached();
    else waiter = { count, reached };
  });
}

/** The answer to 'stats' (latencies from the send in ms, start times by delivery, runs so far), { reset } (which clears them for a round whose first delivery is `reset`) and 'runs'. */
function statsMessage(message) {
  if (message?.reset !== undefined) {
    state.started = [];
    state.startedAt.reset(message.reset);
  }
  return message === 'stats' ? { runs: state.runs, latencies: state.started, startedAt: state.startedAt } : { runs: state.runs, latencies: [] };
}

/** Answers a bench message about the runs: `{ until }` once that many have run, the others with `statsMessage`. */
export function answerRunsMessage(message) {
  if (typeof message === 'object' && message?.until !== undefined) return void untilRuns(message.until).then((answer) => process.send?.(answer));
  process.send?.(statsMessage(message));
}
