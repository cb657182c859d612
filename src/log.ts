/** JSON logs (pino) that never carry a secret: known secret values are scrubbed from every line. */
import { pino, type Logger } from 'pino';

export interface LogOptions {
  level?: string;
  /** Resolved secret values from the config; replaced by [REDACTED] wherever they appear. */
  secrets?: readonly string[];
  /** Where lines go; stdout by default. */
  write?: (line: string) => void;
}

const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-hub-signature-256"]',
  'headers["x-hub-signature"]',
];

export function createLogger(options: LogOptions = {}): Logger {
  const secrets = (options.secrets ?? []).filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  const write = options.write ?? ((line: string) => process.stdout.write(line));
  const scrub = (line: string) => secrets.reduce((acc, secret) => acc.split(secret).join('[REDACTED]'), line);
  return pino(
    { level: options.level ?? process.env.LOG_LEVEL ?? 'info', redact: { paths: REDACT_PATHS, censor: '[REDACTED]' }, base: { service: 'switchboard' } },
    { write: (line: string) => write(secrets.length ? scrub(line) : line) },
  );
}
