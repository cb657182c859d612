import type { FunctionHandler } from '../../src/index.js';

interface Scored {
  invoice: string;
  customer: string;
  amount: number;
  tier: 'large' | 'regular';
}

/** Announces a scored invoice in Slack through the `slack` connector. */
const announce: FunctionHandler<Scored> = async (event, ctx) => {
  const { invoice, customer, amount, tier } = event.data!;
  const emoji = tier === 'large' ? ':tada:' : ':white_check_mark:';
  const answer = await ctx.connectors.slack.postMessage({ channel: '#billing', text: `${emoji} ${customer} paid ${amount.toFixed(2)} (invoice ${invoice})` });
  return { ts: answer.ts };
};

export default announce;
