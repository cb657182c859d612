/** Dead letters are the jobs that failed their last attempt: BullMQ's failed set of each function queue. */
import type { CloudEvent } from '../events/cloudevent.js';
import type { Bus } from './bus.js';

export interface DeadLetter {
  function: string;
  jobId: string;
  event: CloudEvent;
  error: string;
  attempts: number;
  failedAt: string | undefined;
}

export interface DeadLetterFilter {
  functions?: string[];
  jobId?: string;
  limit?: number;
}

export async function listDeadLetters(bus: Bus, functionNames: string[], filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
  const limit = filter.limit ?? 100;
  const out: DeadLetter[] = [];
  for (const name of filter.functions ?? functionNames) {
    const queue = bus.queue(name);
    if (!queue) throw new Error(`unknown function "${name}"; known functions: ${functionNames.join(', ')}`);
    const jobs = filter.jobId ? [await queue.getJob(filter.jobId)] : await queue.getFailed(0, limit - 1);
    for (const job of jobs) {
      if (!job || !job.id || (filter.jobId && !(await job.isFailed()))) continue;
      out.push({
        function: name,
        jobId: job.id,
        event: job.data as CloudEvent,
        error: job.failedReason,
        attempts: job.attemptsMade,
        failedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : undefined,
      });
    }
  }
  // Each queue gives its newest first; across functions, the newest of all come first too.
  return out.sort((a, b) => (b.failedAt ?? '').localeCompare(a.failedAt ?? '')).slice(0, limit);
}

/** Moves dead letters back to their queue with a fresh set of attempts; returns how many. */
export async function replayDeadLetters(bus: Bus, functionNames: string[], filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
  const letters = await listDeadLetters(bus, functionNames, { ...filter, limit: filter.limit ?? 10_000 });
  for (const letter of letters) {
    const job = await bus.queue(letter.function)!.getJob(letter.jobId);
    await job?.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
  }
  return letters;
}
