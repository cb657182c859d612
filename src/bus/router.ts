/** Matches events against function triggers. Exact `type` triggers are indexed, so routing is a lookup. */
import type { TriggerSpec } from '../config/schema.js';
import type { CloudEvent } from '../events/cloudevent.js';

export type EventMatcher = (event: CloudEvent) => boolean;

type AttributeSpec = string | { exact?: string; prefix?: string; suffix?: string };

function attributeValue(event: CloudEvent, name: string): string | undefined {
  const value = event[name];
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : typeof value === 'object' ? undefined : String(value);
}

function compileAttribute(name: string, spec: AttributeSpec): EventMatcher {
  if (typeof spec === 'string') return (e) => attributeValue(e, name) === spec;
  const { exact, prefix, suffix } = spec;
  return (e) => {
    const v = attributeValue(e, name);
    if (v === undefined) return false;
    return (exact === undefined || v === exact) && (prefix === undefined || v.startsWith(prefix)) && (suffix === undefined || v.endsWith(suffix));
  };
}

export function compileTrigger(trigger: TriggerSpec): EventMatcher {
  const parts: EventMatcher[] = [];
  for (const [key, value] of Object.entries(trigger)) {
    if (value === undefined) continue;
    if (key === 'all') {
      const subs = (value as TriggerSpec[]).map(compileTrigger);
      parts.push((e) => subs.every((m) => m(e)));
    } else if (key === 'any') {
      const subs = (value as TriggerSpec[]).map(compileTrigger);
      parts.push((e) => subs.some((m) => m(e)));
    } else if (key === 'not') {
      const sub = compileTrigger(value as TriggerSpec);
      parts.push((e) => !sub(e));
    } else {
      parts.push(compileAttribute(key, value as AttributeSpec));
    }
  }
  return (e) => parts.every((m) => m(e));
}

export interface RouteTarget {
  name: string;
  trigger: TriggerSpec;
}

export class Router<T extends RouteTarget = RouteTarget> {
  private readonly byType = new Map<string, { target: T; match: EventMatcher }[]>();
  private readonly scanned: { target: T; match: EventMatcher }[] = [];

  constructor(targets: readonly T[]) {
    for (const target of targets) {
      const entry = { target, match: compileTrigger(target.trigger) };
      const type = (target.trigger as Record<string, unknown>).type;
      if (typeof type === 'string') {
        const list = this.byType.get(type) ?? [];
        list.push(entry);
        this.byType.set(type, list);
      } else {
        this.scanned.push(entry);
      }
    }
  }

  match(event: CloudEvent): T[] {
    const out: T[] = [];
    for (const entry of this.byType.get(event.type) ?? []) if (entry.match(event)) out.push(entry.target);
    for (const entry of this.scanned) if (entry.match(event)) out.push(entry.target);
    return out;
  }
}
