// The no-op function of the end-to-end runs. It records when it started against when the load
// generator sent the request (`sent`, epoch ms with sub-ms precision, in the webhook body).
// `startedAt`: event id → when its run started (the bench joins it with the gateway's receipt times).
const state = { started: [], startedAt: {}, runs: 0 };
const now = () => performance.timeOrigin + performance.now();

// NOOP_MS makes each run take that long: the slow worker of the overload run.
const busyMs = Number(process.env.NOOP_MS ?? 0);

export default async (event) => {
  state.runs++;
  const sent = event?.data?.sent;
  if (typeof sent === 'number') {
    const at = now();
    state.started.push(at - sent);
    state.startedAt[event.id] = at;
  }
  if (busyMs) await new Promise((r) => setTimeout(r, busyMs));
  return null;
};

/** Answers the bench's IPC messages: 'stats' (latencies from the send in ms, start times by event id, runs so far) and 'reset'. */
export function statsMessage(message) {
  if (message === 'reset') {
    state.started = [];
    state.startedAt = {};
  }
  return message === 'stats' ? { runs: state.runs, latencies: state.started, startedAt: state.startedAt } : { runs: state.runs, latencies: [] };
}
