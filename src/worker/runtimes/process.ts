/**
 * The `process` runtime: any language. One-shot mode starts the program per event: the event arrives
 * on stdin as a structured-mode CloudEvent (JSON), stdout is the result (JSON, else text), a non-zero
 * exit is a failure carrying the tail of stderr. Persistent mode keeps a pool of long-lived programs
 * speaking newline-delimited JSON (see docs/process-protocol.md). The program sees only the environment
 * variables the function declares; on timeout its whole process group is killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { findOnPath } from '../../cli/embedded-redis.js';
import type { RuntimeConfig } from '../../config/functions.js';
import type { CloudEvent } from '../../events/cloudevent.js';
import { FunctionFailedError, parseOutput, type Runtime } from './types.js';

type ProcessConfig = Extract<RuntimeConfig, { kind: 'process' }>;

const STDOUT_LIMIT = 16 * 1024 * 1024;
const STDERR_TAIL = 4096;

export function resolveCommand(command: string, cwd: string): string {
  if (command.includes('/')) return path.resolve(cwd, command);
  const found = findOnPath(command);
  if (!found) throw new Error(`command "${command}" is not on PATH`);
  return found;
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

function spawnProgram(config: ProcessConfig, binary: string): ChildProcess {
  // detached: the program leads its own process group, so a timeout kills its children too.
  return spawn(binary, config.command.slice(1), { cwd: config.cwd, env: config.env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
}

function tail(buffer: string, chunk: string): string {
  const joined = buffer + chunk;
  return joined.length > STDERR_TAIL ? joined.slice(-STDERR_TAIL) : joined;
}

export function processRuntime(config: ProcessConfig): Runtime {
  const binary = resolveCommand(config.command[0]!, config.cwd);
  return config.persistent ? new ProcessPool(config, binary, config.persistent.instances) : { invoke: (event, ctx) => runOnce(config, binary, event, ctx.signal), close: async () => {} };
}

function runOnce(config: ProcessConfig, binary: string, event: CloudEvent, signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawnProgram(config, binary);
    let stdout = '';
    let stderr = '';
    let overflow = false;
    const onAbort = () => killGroup(child);
    signal.addEventListener('abort', onAbort, { once: true });
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      if (stdout.length + chunk.length > STDOUT_LIMIT) {
        overflow = true;
        killGroup(child);
      } else stdout += chunk;
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = tail(stderr, chunk)));
    child.stdin!.on('error', () => {}); // a program that does not read stdin closes it early
    child.once('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(new FunctionFailedError(`cannot start ${config.command[0]}: ${err.message}`));
    });
    child.once('close', (code, killedBy) => {
      signal.removeEventListener('abort', onAbort);
      // The whole group goes, so nothing the program started outlives it.
      killGroup(child);
      if (signal.aborted) return reject(signal.reason);
      if (overflow) return reject(new FunctionFailedError(`stdout exceeded ${STDOUT_LIMIT} bytes`));
      if (code !== 0) {
        return reject(new FunctionFailedError(`${config.command[0]} ${killedBy ? `was killed by ${killedBy}` : `exited with code ${code}`}${stderr.trim() ? `: ${stderr.trim()}` : ''}`));
      }
      resolve(parseOutput(stdout));
    });
    child.stdin!.end(JSON.stringify(event));
  });
}

interface Member {
  child: ChildProcess;
  busy: boolean;
  stderr: string;
  pending?: { id: number; resolve(value: unknown): void; reject(err: unknown): void };
}

/** Long-lived programs answering `{"id","event"}` lines with `{"id","result"}` or `{"id","error"}` lines. */
class ProcessPool implements Runtime {
  private readonly members = new Set<Member>();
  private readonly waiting: ((member: Member) => void)[] = [];
  private nextId = 0;
  private closed = false;

  constructor(
    private readonly config: ProcessConfig,
    private readonly binary: string,
    instances: number,
  ) {
    for (let i = 0; i < instances; i++) this.start();
  }

  private start(): void {
    const member: Member = { child: spawnProgram(this.config, this.binary), busy: false, stderr: '' };
    this.members.add(member);
    member.child.stdin!.on('error', () => {});
    member.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (member.stderr = tail(member.stderr, chunk)));
    createInterface({ input: member.child.stdout! }).on('line', (line) => this.answer(member, line));
    member.child.once('close', (code, signal) => {
      this.members.delete(member);
      killGroup(member.child);
      member.pending?.reject(new FunctionFailedError(`persistent process ${signal ? `was killed by ${signal}` : `exited with code ${code}`}${member.stderr.trim() ? `: ${member.stderr.trim()}` : ''}`));
      member.pending = undefined;
      // A crashed process is replaced; its event is retried by the queue.
      if (!this.closed) this.start();
      if (!this.closed) this.hand(this.idle());
    });
    this.hand(member);
  }

  private answer(member: Member, line: string): void {
    if (!line.trim()) return;
    const pending = member.pending;
    let message: { id?: unknown; result?: unknown; error?: unknown };
    try {
      message = JSON.parse(line);
    } catch {
      return; // not a protocol line (a stray print); the program's own business
    }
    if (!pending || message.id !== pending.id) return;
    member.pending = undefined;
    member.busy = false;
    if (message.error !== undefined) pending.reject(new FunctionFailedError(String(message.error)));
    else pending.resolve(message.result);
    this.hand(member);
  }

  private idle(): Member | undefined {
    for (const m of this.members) if (!m.busy) return m;
    return undefined;
  }

  private hand(member: Member | undefined): void {
    if (!member || member.busy) return;
    const next = this.waiting.shift();
    if (next) {
      member.busy = true;
      next(member);
    }
  }

  async invoke(event: CloudEvent, ctx: { signal: AbortSignal }): Promise<unknown> {
    const member = await new Promise<Member>((resolve) => {
      this.waiting.push(resolve);
      this.hand(this.idle());
    });
    return new Promise((resolve, reject) => {
      const id = ++this.nextId;
      const onAbort = () => killGroup(member.child);
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      member.pending = {
        id,
        resolve: (v) => {
          ctx.signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        reject: (e) => {
          ctx.signal.removeEventListener('abort', onAbort);
          reject(ctx.signal.aborted ? ctx.signal.reason : e);
        },
      };
      member.child.stdin!.write(JSON.stringify({ id, event }) + '\n');
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const m of this.members) killGroup(m.child);
  }
}
