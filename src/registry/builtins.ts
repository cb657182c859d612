import cloudevents from '../../connectors/cloudevents/index.js';
import cron from '../../connectors/cron/index.js';
import http from '../../connectors/http/index.js';
import github from '../../connectors/github/index.js';
import google from '../../connectors/google/index.js';
import mqtt from '../../connectors/mqtt/index.js';
import nats from '../../connectors/nats/index.js';
import pubsub from '../../connectors/pubsub/index.js';
import rabbitmq from '../../connectors/rabbitmq/index.js';
import sendgrid from '../../connectors/sendgrid/index.js';
import slack from '../../connectors/slack/index.js';
import sqs from '../../connectors/sqs/index.js';
import twilio from '../../connectors/twilio/index.js';
import webhook from '../../connectors/webhook/index.js';
import type { ConnectorDefinition } from './contract.js';
import { ConnectorRegistry } from './registry.js';

export const BUILTIN_CONNECTORS: ConnectorDefinition[] = [webhook, cloudevents, cron, http, slack, github, google, twilio, sendgrid, sqs, pubsub, nats, rabbitmq, mqtt] as ConnectorDefinition[];

export function builtinRegistry(): ConnectorRegistry {
  const registry = new ConnectorRegistry();
  for (const definition of BUILTIN_CONNECTORS) registry.register(definition);
  return registry;
}
