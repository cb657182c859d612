import type { FunctionHandler } from '../../src/index.js';

interface PushPayload {
  ref: string;
  repository: { full_name: string };
  pusher?: { name: string };
  commits?: { message: string }[];
}

/** Turns a GitHub push into a one-line summary; the `emit` block makes the result a new event. */
const summarizePush: FunctionHandler<PushPayload> = async (event) => {
  const push = event.data!;
  const commits = push.commits?.length ?? 0;
  return {
    repository: push.repository.full_name,
    ref: push.ref,
    commits,
    text: `${push.pusher?.name ?? 'someone'} pushed ${commits} commit(s) to ${push.repository.full_name} ${push.ref}`,
  };
};

export default summarizePush;
