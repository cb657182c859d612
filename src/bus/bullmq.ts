/**
 * BullMQ, loaded on first use: a gateway publishes in BullMQ's job format with its own script and
 * needs BullMQ's code only for a Queue (admin API, dead letters), so a gateway that never reads a
 * queue does not hold it (about 9 MiB of RSS). Workers load it when they start.
 */
import { lazyModule } from '../lazy-module.js';

export const bullmq = lazyModule<typeof import('bullmq')>('bullmq');
