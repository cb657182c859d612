/** Durations and byte sizes as users write them in YAML: a number, or a number with a unit. */
import { Type } from '@sinclair/typebox';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1000, mb: 1000 ** 2, kib: 1024, mib: 1024 ** 2 };

export function Duration(options: { default?: string; description?: string } = {}) {
  return Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: '^\\d+(\\.\\d+)?(ms|s|m|h|d)$' })], {
    ...options,
    description: `${options.description ? options.description + '; ' : ''}milliseconds, or a number with a unit: "250ms", "30s", "5m", "72h"`,
  });
}

export function ByteSize(options: { default?: string; description?: string } = {}) {
  return Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: '^\\d+(b|kb|mb|kib|mib)$' })], {
    ...options,
    description: `${options.description ? options.description + '; ' : ''}bytes, or a number with a unit: "512kb", "1mib"`,
  });
}

export function toMilliseconds(value: number | string): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value);
  if (!m) throw new Error(`not a duration: ${value}`);
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2]!]!);
}

export function toBytes(value: number | string): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+)(b|kb|mb|kib|mib)$/.exec(value);
  if (!m) throw new Error(`not a size: ${value}`);
  return Number(m[1]) * SIZE_UNITS[m[2]!]!;
}
