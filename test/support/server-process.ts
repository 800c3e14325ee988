// One external server child (etcd, redis-server) for tests: spawn, wait until it answers, stop, restart, kill on exit.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { atExit, reapOnExit } from './reap.js';

const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;

/** Remove `dir` when the test process exits (the data must survive stop/start within a test). */
export function removeOnExit(dir: string): void {
  atExit(() => rmSync(dir, { recursive: true, force: true }));
}

export class ServerProcess {
  private child: ChildProcess | undefined;
  private output: string[] = [];

  constructor(
    private readonly name: string,
    private readonly binary: string,
    private readonly args: string[],
    /** Resolves true once the server answers; polled until READY_TIMEOUT_MS. */
    private readonly probe: () => Promise<boolean>,
  ) {}

  get pid(): number {
    return this.child?.pid ?? -1;
  }

  async start(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) return;
    this.output = [];
    const child = spawn(this.binary, this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = reapOnExit(child);
    const keep = (chunk: Buffer) => {
      this.output.push(chunk.toString());
      if (this.output.length > 40) this.output.shift();
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    // The test runner must not wait on a server it forgot to stop; reapOnExit kills it.
    child.unref();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
    (child.stderr as unknown as { unref?: () => void }).unref?.();
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      if (await this.probe().catch(() => false)) return;
      await Promise.race([delay(50), exited]);
    }
    await this.stop();
    throw new Error(`${this.name} did not become ready (${this.binary} ${this.args.join(' ')}):\n${this.output.join('').slice(-3000)}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}
