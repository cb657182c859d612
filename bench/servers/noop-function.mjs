// The no-op function of the end-to-end runs. It records when it started against when the load
// generator sent the request (`sent`, epoch ms with sub-ms precision, in the webhook body).
const state = { started: [], runs: 0 };
const now = () => performance.timeOrigin + performance.now();

// NOOP_MS makes each run take that long: the slow worker of the overload run.
const busyMs = Number(process.env.NOOP_MS ?? 0);

export default async (event) => {
  state.runs++;
  const sent = event?.data?.sent;
  if (typeof sent === 'number') state.started.push(now() - sent);
  if (busyMs) await new Promise((r) => setTimeout(r, busyMs));
  return null;
};

/** Answers the bench's IPC messages: 'stats' (latencies in ms, runs so far) and 'reset'. */
export function statsMessage(message) {
  if (message === 'reset') state.started = [];
  return { runs: state.runs, latencies: message === 'stats' ? state.started : [] };
}
