// Retry layer: replays a failed try when it is safe (idempotent method, or provably never sent) and the body can
// be sent again (none, or buffered within a size limit; a body streamed through, such as a gRPC call's, only after
// a try that provably sent nothing and read none of it), within the service's retry budget, after exponential
// backoff with full jitter that never outlives the deadline. The balance layer below sends it elsewhere.
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RetryPolicy } from '../config/schema.js';
import { parseDuration } from '../config/duration.js';
import { MeshError } from '../errors.js';
import type { Exchange } from '../pipeline/exchange.js';
import { bodyKind } from '../http/request-body.js';
import { bufferedBodies, streamedBodies } from './pool.js';
import type { RetryBudgets } from './retry-budget.js';
import { UpstreamFailure, discard, isGatewayError, isIdempotent, neverSent, type Layer, type UpstreamResponse } from './upstream.js';

export interface RetryOptions {
  budgets: RetryBudgets;
  /** Largest request body read into memory so it can be replayed (bytes). */
  maxBufferedBody?: number;
  random?: () => number;
  wait?: (ms: number) => Promise<unknown>;
}

/**
 * With no policy configured, one more try elsewhere for what provably never reached the upstream (any method)
 * and for an idempotent request whose connection was reset (a keep-alive socket closed under it by a draining peer).
 */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 2, retryOn: ['connect-failure', 'reset'] };
const DEFAULT_RETRY_ON: RetryPolicy['retryOn'] = ['connect-failure', 'reset', 'gateway-error'];
const BASE_BACKOFF_MS = 25;
const MAX_BACKOFF_MS = 250;

interface Plan {
  attempts: number;
  on: Set<string>;
  statuses: Set<number>;
  baseMs: number;
  maxMs: number;
}

const plans = new WeakMap<RetryPolicy, Plan>();

function planOf(policy: RetryPolicy): Plan {
  let plan = plans.get(policy);
  if (!plan) {
    const on = new Set<string>(policy.retryOn ?? DEFAULT_RETRY_ON);
    if (!policy.retryOn && policy.statuses?.length) on.add('retriable-status-codes');
    plan = {
      attempts: policy.attempts,
      on,
      statuses: new Set(policy.statuses ?? []),
      baseMs: policy.backoff ? parseDuration(policy.backoff) : BASE_BACKOFF_MS,
      maxMs: policy.maxBackoff ? parseDuration(policy.maxBackoff) : MAX_BACKOFF_MS,
    };
    plans.set(policy, plan);
  }
  return plan;
}

function retriableStatus(plan: Plan, status: number): boolean {
  if (status >= 500 && plan.on.has('5xx')) return true;
  if (isGatewayError(status) && plan.on.has('gateway-error')) return true;
  return plan.on.has('retriable-status-codes') && plan.statuses.has(status);
}

/** A failed try may be replayed when the policy names its kind and the method allows it. */
function retriableError(plan: Plan, err: unknown, idempotent: boolean): boolean {
  if (!(err instanceof UpstreamFailure)) return false; // overloaded, breaker, spent deadline: not the try's fault
  switch (err.kind) {
    case 'connect':
      return plan.on.has('connect-failure');
    case 'reset':
    case 'other':
      return idempotent && plan.on.has('reset');
    case 'timeout':
      return idempotent && (plan.on.has('gateway-error') || plan.on.has('5xx'));
  }
}

/**
 * When the request body can be sent again: `always` (none, or read into memory here), `unread` (it streams through as
 * it arrives, so only after a try that provably sent nothing and read none of it: a gRPC call, a chunked or large
 * body), or `never` (part of it is gone).
 */
type Replay = 'always' | 'unread' | 'never';

/** Read a small body into memory so it can be sent again. */
async function replayable(x: Exchange, limit: number): Promise<Replay> {
  if (streamedBodies.has(x)) return 'unread'; // a stage streams it (counted)
  const kind = bodyKind(x.req);
  if (kind === 'none') return 'always';
  if (kind === 'streamed') return 'unread';
  if (x.req.readableDidRead) return 'never';
  const length = Number(x.req.headers['content-length']);
  if (!(length <= limit)) return 'unread';
  const chunks: Buffer[] = [];
  let size = 0;
  const read = async (): Promise<Replay> => {
    for await (const chunk of x.req) {
      size += (chunk as Buffer).length;
      if (size > limit) return 'never';
      chunks.push(chunk as Buffer);
    }
    bufferedBodies.set(x, Buffer.concat(chunks, size));
    return 'always';
  };
  // A client that stops sending its body must not hold the request past its deadline (it did, up to the server's
  // 60 s request timeout: the upstream's timer starts only once the body is read).
  const remaining = x.remainingMs();
  if (!Number.isFinite(remaining)) return read();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new MeshError('deadline_exceeded', 'The request body did not arrive within the deadline.')), Math.max(0, remaining));
  });
  try {
    return await Promise.race([read(), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The body an upstream streams (a stage's wrapper, or the client's request) is whole: no try read a byte of it, and
 * it did not fail. Both upstreams start reading it only once connected (HTTP/2 pipes it then, undici pulls it through
 * the pool's pass-through then), so a refused connection leaves it whole, and a refused stream does when it came
 * before any of it was read.
 */
function unread(x: Exchange): boolean {
  const body: Readable = streamedBodies.get(x) ?? x.req;
  return !body.readableDidRead && !body.destroyed;
}

export function retry(o: RetryOptions): Layer {
  const limit = o.maxBufferedBody ?? 64 * 1024;
  const random = o.random ?? Math.random;
  const wait = o.wait ?? sleep;
  return (next) => async (x) => {
    const budget = o.budgets.for(x.service, x.snapshot?.services.get(x.service)?.retryBudget);
    budget.deposit();
    const plan = planOf(x.route?.retry ?? DEFAULT_RETRY);
    if (plan.attempts <= 1) return next(x);
    const replay = await replayable(x, limit);
    if (replay === 'never') return next(x);
    const idempotent = isIdempotent(x.method);
    for (let attempt = 1; ; attempt++) {
      let response: UpstreamResponse | undefined;
      let failure: unknown;
      try {
        response = await next(x);
        // An answer means the request arrived: only an idempotent one may be sent again, and only if we still hold
        // its body.
        if (attempt >= plan.attempts || !idempotent || replay === 'unread' || !retriableStatus(plan, response.status)) return response;
      } catch (err) {
        if (attempt >= plan.attempts || !retriableError(plan, err, idempotent)) throw err;
        // A body that streams through is sent again only when the try provably sent nothing and read none of it.
        if (replay === 'unread' && !(neverSent(err) && unread(x))) throw err;
        failure = err;
      }
      const delay = random() * Math.min(plan.maxMs, plan.baseMs * 2 ** (attempt - 1));
      const give = (): UpstreamResponse => {
        if (response) return response;
        throw failure;
      };
      // Backoff that would outlive the deadline is no retry at all.
      if (delay >= x.remainingMs() - 1) return give();
      if (!budget.withdraw()) {
        o.budgets.exhausted(x.service);
        return give();
      }
      if (response) discard(response);
      await wait(delay);
    }
  };
}
