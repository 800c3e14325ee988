// Retry layer: replays a failed try when it is safe (idempotent method, or provably never sent) and the body can
// be sent again (none, or buffered within a size limit), within the service's retry budget, after exponential
// backoff with full jitter that never outlives the deadline. The balance layer below sends it elsewhere.
import { setTimeout as sleep } from 'node:timers/promises';
import type { RetryPolicy } from '../config/schema.js';
import { parseDuration } from '../config/duration.js';
import { MeshError } from '../errors.js';
import type { Exchange } from '../pipeline/exchange.js';
import { bodyKind } from '../http/request-body.js';
import { bufferedBodies, streamedBodies } from './pool.js';
import type { RetryBudgets } from './retry-budget.js';
import { UpstreamFailure, discard, isGatewayError, isIdempotent, type Layer, type UpstreamResponse } from './upstream.js';

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

/** Read a small body into memory so it can be sent again; false when it cannot be replayed. */
async function replayable(x: Exchange, limit: number): Promise<boolean> {
  if (streamedBodies.has(x)) return false; // a stage streams it (counted): never replayed
  const kind = bodyKind(x.req);
  if (kind === 'none') return true;
  if (kind === 'streamed') return false; // a streamed body is never replayed
  const length = Number(x.req.headers['content-length']);
  if (!(length <= limit) || x.req.readableDidRead) return false;
  const chunks: Buffer[] = [];
  let size = 0;
  const read = async () => {
    for await (const chunk of x.req) {
      size += (chunk as Buffer).length;
      if (size > limit) return false;
      chunks.push(chunk as Buffer);
    }
    bufferedBodies.set(x, Buffer.concat(chunks, size));
    return true;
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

export function retry(o: RetryOptions): Layer {
  const limit = o.maxBufferedBody ?? 64 * 1024;
  const random = o.random ?? Math.random;
  const wait = o.wait ?? sleep;
  return (next) => async (x) => {
    const budget = o.budgets.for(x.service, x.snapshot?.services.get(x.service)?.retryBudget);
    budget.deposit();
    const plan = planOf(x.route?.retry ?? DEFAULT_RETRY);
    if (plan.attempts <= 1 || !(await replayable(x, limit))) return next(x);
    const idempotent = isIdempotent(x.method);
    for (let attempt = 1; ; attempt++) {
      let response: UpstreamResponse | undefined;
      let failure: unknown;
      try {
        response = await next(x);
        // An answer means the request arrived: only an idempotent one may be sent again.
        if (attempt >= plan.attempts || !idempotent || !retriableStatus(plan, response.status)) return response;
      } catch (err) {
        if (attempt >= plan.attempts || !retriableError(plan, err, idempotent)) throw err;
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
