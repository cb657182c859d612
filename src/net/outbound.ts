/**
 * Outbound HTTP with an SSRF guard: every connection (redirects included) is checked after DNS
 * resolution, so private, loopback, link-local (cloud metadata) and reserved addresses are refused
 * unless the connector allows private networks.
 */
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import ipaddr from 'ipaddr.js';
import type * as Undici from 'undici';
import type { Agent, buildConnector } from 'undici';
import { lazyModule } from '../lazy-module.js';

/** undici loads with the first outbound agent or call. */
export const undici = lazyModule<typeof Undici>('undici');
import { SwitchboardError } from '../errors.js';

export class BlockedAddressError extends SwitchboardError {
  constructor(host: string, address: string) {
    super('SWB_ERR_OUTBOUND_BLOCKED', `outbound call to ${host} refused: ${address} is a private, loopback, link-local or reserved address (set allowPrivateNetworks to permit it)`);
  }
}

/** Only globally routable unicast addresses are public; IPv4-mapped IPv6 is judged as IPv4. */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  return parsed.range() === 'unicast';
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

function guardedLookup(hostname: string, options: dns.LookupOptions, callback: LookupCallback): void {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '');
    const blocked = addresses.find((a) => !isPublicAddress(a.address));
    if (blocked) return callback(new BlockedAddressError(hostname, blocked.address) as NodeJS.ErrnoException, '');
    if (options.all) return callback(null, addresses);
    const first = addresses[0]!;
    callback(null, first.address, first.family);
  });
}

export interface OutboundAgentOptions {
  allowPrivateNetworks: boolean;
  connectTimeoutMs?: number;
}

export function createOutboundAgent(options: OutboundAgentOptions): Agent {
  const { Agent, buildConnector } = undici();
  if (options.allowPrivateNetworks) return new Agent({ connect: { timeout: options.connectTimeoutMs ?? 10_000 } });
  const connector = buildConnector({ timeout: options.connectTimeoutMs ?? 10_000, lookup: guardedLookup } as buildConnector.BuildOptions);
  return new Agent({
    connect(opts, callback) {
      const host = opts.hostname.replace(/^\[|\]$/g, '');
      // Literal addresses skip DNS, so they are checked here.
      if (net.isIP(host) && !isPublicAddress(host)) return callback(new BlockedAddressError(host, host), null);
      return connector(opts, callback);
    },
  });
}

/** undici reports connection failures as `TypeError: fetch failed` with the reason as cause. */
export function unwrapFetchError(err: unknown): unknown {
  let current = err;
  for (let i = 0; i < 4 && current instanceof Error; i++) {
    if (current instanceof SwitchboardError) return current;
    current = (current as Error & { cause?: unknown }).cause;
  }
  return err;
}

/**
 * The same guard for libraries built on Node's http module (axios inside vendor SDKs): an agent that
 * resolves through the guarded lookup and refuses literal private addresses. Pick it by URL scheme.
 */
export function createGuardedNodeAgent(url: string, options: OutboundAgentOptions): http.Agent {
  const secure = new URL(url).protocol === 'https:';
  const base = { keepAlive: true, ...(options.allowPrivateNetworks ? {} : { lookup: guardedLookup as unknown as typeof dns.lookup }) };
  const agent = secure ? new https.Agent(base) : new http.Agent(base);
  if (!options.allowPrivateNetworks) {
    const create = (agent as unknown as { createConnection: (o: { host?: string }, cb: unknown) => unknown }).createConnection.bind(agent);
    (agent as unknown as { createConnection: unknown }).createConnection = (o: { host?: string }, cb: unknown) => {
      const host = (o.host ?? '').replace(/^\[|\]$/g, '');
      if (net.isIP(host) && !isPublicAddress(host)) {
        // Agent waits for the callback when createConnection returns nothing.
        process.nextTick(cb as (err: Error) => void, new BlockedAddressError(host, host));
        return undefined;
      }
      return create(o, cb);
    };
  }
  return agent;
}
