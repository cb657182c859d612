/** Runs the real `switchboard` CLI (the built bin) as a child process and reads its log. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { REDIS_URL, waitFor } from './index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'bin/switchboard.js');

export function writeConfig(yaml: string, dir = mkdtempSync(path.join(os.tmpdir(), 'swb-cli-'))): string {
  const file = path.join(dir, 'switchboard.yaml');
  writeFileSync(file, yaml);
  return file;
}

export interface CliProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  /** The gateway URL once it listens. */
  url(): Promise<string>;
  lines(): Record<string, any>[];
}

/** `launcher`: a command the CLI runs under, e.g. `['taskset', '-c', '0']`. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}, launcher: string[] = []): CliProcess {
  let output = '';
  const command = [...launcher, process.execPath, BIN, ...args];
  const child = spawn(command[0]!, command.slice(1), { env: { ...process.env, REDIS_URL, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => output,
    url: () => waitFor(() => /listening on (http:\/\/[\d.:]+)/.exec(output)?.[1], 'the gateway to listen', 20_000),
    lines: () =>
      output
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, any>),
  };
}
