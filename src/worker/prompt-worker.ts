/**
 * A BullMQ Worker that runs a job as soon as it reaches an idle queue. BullMQ's main loop, woken by a
 * job, fetches once more before it runs the job (to learn whether the queue is now drained), so at
 * low load every job waited one more Redis round trip before its function started. Here the fetch
 * that follows a wake-up answers "none" at once: the loop runs the job and makes that fetch on its
 * next turn, while the job runs. Nothing else changes (jobs, locks, retries and the drained check are
 * BullMQ's own); at saturation jobs come from `moveToFinished`, which this does not touch.
 */
import type { Job, Worker } from 'bullmq';
import { bullmq } from '../bus/bullmq.js';

let promptWorker: typeof Worker | undefined;

export function promptWorkerClass(): typeof Worker {
  return (promptWorker ??= class PromptWorker<D = unknown, R = unknown, N extends string = string> extends bullmq().Worker<D, R, N> {
    private wokenByWait = false;
    private deferNextFetch = false;

    // Called only when the worker is about to block waiting for a job.
    protected override getBlockTimeout(blockUntil: number): number {
      this.wokenByWait = true;
      return super.getBlockTimeout(blockUntil);
    }

    protected override async moveToActive(token: string, name?: string): Promise<Job<D, R, N>> {
      if (this.deferNextFetch) {
        this.deferNextFetch = false;
        // "No job now": the main loop starts the job it holds, then fetches for real.
        return undefined as unknown as Job<D, R, N>;
      }
      const afterWait = this.wokenByWait;
      this.wokenByWait = false;
      const job = await super.moveToActive(token, name);
      if (afterWait && job && this.concurrency > 1) this.deferNextFetch = true;
      return job;
    }
  } as unknown as typeof Worker);
}
