/**
 * The push-style counterpart of the poller (NATS JetStream, RabbitMQ, MQTT): each delivered message
 * is acknowledged only after the bus holds its event; a message that can never become an event is
 * dead-lettered and acknowledged; when the bus refuses, the message is handed back for redelivery
 * after a pause, so a dead Redis does not turn into a hot loop.
 */
import type { Logger } from 'pino';
import type { CloudEvent } from '../events/cloudevent.js';
import type { InboundIO } from './contract.js';
import { PoisonMessageError } from './poller.js';

export interface Delivery {
  toEvent(): CloudEvent;
  describe(): { id: string; payload: string };
  ack(): void | Promise<void>;
  /** Hands the message back to the broker for redelivery. */
  retry(): void | Promise<void>;
}

export interface DeliveryOptions {
  connector: string;
  log: Logger;
  /** Pause before a refused message is handed back. */
  retryDelayMs?: number;
}

/** Never rejects: a failed ack or retry (a closed channel) leaves the message to the broker, which redelivers it. */
export async function deliver(io: InboundIO, options: DeliveryOptions, delivery: Delivery): Promise<void> {
  try {
    await attempt(io, options, delivery);
  } catch (err) {
    options.log.warn({ err: (err as Error).message }, 'delivery not settled; the broker will redeliver the message');
  }
}

async function attempt(io: InboundIO, options: DeliveryOptions, delivery: Delivery): Promise<void> {
  let event: CloudEvent;
  try {
    event = delivery.toEvent();
  } catch (err) {
    if (!(err instanceof PoisonMessageError)) throw err;
    const { id, payload } = delivery.describe();
    try {
      await io.deadLetter!({ connector: options.connector, id, payload, reason: err.message });
      options.log.warn({ messageId: id, reason: err.message, outcome: 'dead-lettered' }, 'poison message dead-lettered');
      await delivery.ack();
    } catch (e) {
      options.log.warn({ err: (e as Error).message }, 'poison message not dead-lettered; left for redelivery');
      await pauseThenRetry(delivery, options);
    }
    return;
  }
  try {
    await io.publish([event]);
  } catch (err) {
    options.log.warn({ eventId: event.id, err: (err as Error).message }, 'event not accepted by the bus; message left for redelivery');
    await pauseThenRetry(delivery, options);
    return;
  }
  await delivery.ack();
}

async function pauseThenRetry(delivery: Delivery, options: DeliveryOptions): Promise<void> {
  await new Promise((r) => setTimeout(r, options.retryDelayMs ?? 1000));
  await delivery.retry();
}
