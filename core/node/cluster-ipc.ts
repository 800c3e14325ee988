// Request and reply over node:cluster IPC, both ways: a worker asks the primary, or the primary asks one worker.
// Each ask has an id and a deadline; the other side registers what it answers with `answer`.
import cluster, { type Worker } from 'node:cluster';

interface Envelope {
  type?: unknown;
  id?: unknown;
  body?: unknown;
  error?: string;
}

const pending = new Map<string, { resolve(body: unknown): void; reject(err: Error): void; timer: NodeJS.Timeout }>();
let nextId = 0;
let listening = false;

function settle(message: Envelope): void {
  if (typeof message?.type !== 'string' || !message.type.endsWith(':reply') || typeof message.id !== 'string') return;
  const request = pending.get(message.id);
  if (!request) return;
  pending.delete(message.id);
  clearTimeout(request.timer);
  if (message.error !== undefined) request.reject(new Error(message.error));
  else request.resolve(message.body);
}

/** Ask the primary (from a worker) or `worker` (from the primary) for `kind`, with `body` if any; rejects after `timeoutMs`. */
export function ask<T>(kind: string, timeoutMs: number, worker?: Worker, body?: unknown): Promise<T> {
  if (!listening) {
    listening = true;
    if (cluster.isWorker) process.on('message', settle);
    else cluster.on('message', (_worker, message: Envelope) => settle(message));
  }
  return new Promise<T>((resolve, reject) => {
    const id = `${process.pid}:${nextId++}`;
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new Error(`${kind}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    pending.set(id, { resolve: resolve as (body: unknown) => void, reject, timer });
    const message: Envelope = { type: `${kind}:ask`, id, body };
    if (worker) worker.send(message);
    else process.send!(message);
  });
}

/** Answer asks for `kind`: in the primary, any worker's (`from` is the worker); in a worker, the primary's. */
export function answer(kind: string, handler: (from: Worker | undefined, body: unknown) => unknown): void {
  const reply = (send: (message: Envelope) => void, id: unknown, body: unknown, from?: Worker) =>
    Promise.resolve()
      .then(() => handler(from, body))
      .then(
        (body) => send({ type: `${kind}:reply`, id, body }),
        (err: Error) => send({ type: `${kind}:reply`, id, error: err.message }),
      );
  if (cluster.isWorker) {
    process.on('message', (message: Envelope) => {
      if (message?.type === `${kind}:ask`) void reply((m) => process.connected && process.send!(m), message.id, message.body);
    });
  } else {
    cluster.on('message', (worker, message: Envelope) => {
      if (message?.type === `${kind}:ask`) void reply((m) => worker.isConnected() && worker.send(m), message.id, message.body, worker);
    });
  }
}
