/**
 * Google's own emulators (`gcloud beta emulators firestore|pubsub start`) on a free loopback port.
 * gcloud leaves a Java child behind when killed, so the emulator runs in its own process group and
 * the whole group is killed at stop.
 */
import { spawn } from 'node:child_process';
import { findOnPath, freePort } from '../../src/cli/embedded-redis.js';

export const emulatorAvailable = (): boolean => findOnPath('gcloud') !== undefined;

export async function startEmulator(kind: 'firestore' | 'pubsub', timeoutMs = 60_000): Promise<{ host: string; stop(): Promise<void> }> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const child = spawn('gcloud', ['beta', 'emulators', kind, 'start', `--host-port=${host}`, '--quiet'], {
    detached: true,
    stdio: 'ignore',
    env: { ...process.env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1', METADATA_SERVER_DETECTION: 'none' },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`http://${host}/`);
      if (res.ok) return { host, stop };
    } catch {
      // not up yet
    }
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error(`the ${kind} emulator did not start on ${host}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
