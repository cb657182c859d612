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

/**
 * A warning for a failure that may repeat on every call (thousands a second under load): logged at
 * most once per `everyMs`, with how many times it happened since the last line.
 */
export class ThrottledWarning {
  private count = 0;
  private loggedAt = 0;

  constructor(
    private readonly log: Logger,
    private readonly message: string,
    private readonly everyMs = 10_000,
  ) {}

  report(err: string): void {
    this.count++;
    const now = Date.now();
    if (now - this.loggedAt < this.everyMs) return;
    this.log.warn({ err, times: this.count }, this.message);
    this.loggedAt = now;
    this.count = 0;
  }
}
