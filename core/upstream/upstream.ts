// The Upstream type: one call to a chosen origin. Deadline, retry, breaker and balance are layers around it.
import { errors as undiciErrors } from 'undici';
import { MeshError, type ErrorCode } from '../errors.js';
import type { Exchange, HeaderValue } from '../pipeline/exchange.js';

/** Where a response body goes: the client's http or http2 response (boolean backpressure, 'drain'). */
export interface BodySink {
  write(chunk: Buffer): boolean;
  end(): void;
  once(event: 'drain', listener: () => void): unknown;
  addTrailers?(trailers: Record<string, string | string[]>): void;
}

/** An upstream response body not read yet: streamed into the client's response, thrown away, or cut. */
export interface UpstreamBody {
  /** Stream the body (then its trailers) into `sink`; `done` once it ended, or with the error that cut it. */
  pipeTo(sink: BodySink, done: (err?: Error) => void): void;
  /** Throw the body away (a response we will not forward), keeping the connection when the body is small. */
  dump(): void;
  /** Cut the transfer (the client went away); before the headers, the pending request is aborted. */
  destroy(err?: Error): void;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, HeaderValue | undefined>;
  body: UpstreamBody;
}

/**
 * Why a try was cut when the client went away. One instance: it is a reason, never thrown to a caller, and an Error
 * made per abort would capture a stack each time. upstreamError maps it to `client_closed`, which is not an
 * UpstreamFailure: no retry replays the request and no breaker or outlier detection counts it against the upstream.
 */
export const CLIENT_GONE = Object.assign(new Error('the client closed the request'), { name: 'ClientGone' });

/** The refusal of a try not sent because the client is already gone (it left during backoff or a slow stage). */
export function clientGone(): MeshError {
  return new MeshError('client_closed');
}

/** Send the exchange's request to `x.upstreamAddress` (set by the balance layer or the forward stage). */
export type Upstream = (x: Exchange) => Promise<UpstreamResponse>;

/** A layer wraps the next one: `(next) => upstream`. Listed outermost first in a tier file. */
export type Layer = (next: Upstream) => Upstream;

export function compose(layers: Layer[], innermost: Upstream): Upstream {
  let upstream = innermost;
  for (let i = layers.length - 1; i >= 0; i--) upstream = layers[i](upstream);
  return upstream;
}

/** How one try failed, as the retry, breaker and outlier layers classify it. */
export type FailureKind = 'connect' | 'reset' | 'timeout' | 'other';

/** A failed try: the client-facing MeshError plus what the layers need to decide (retry? eject?). */
export class UpstreamFailure extends MeshError {
  constructor(
    code: ErrorCode,
    message: string | undefined,
    readonly kind: FailureKind,
    readonly address: string,
  ) {
    super(code, message);
  }
}

/** Did the request provably never reach the upstream (safe to retry any method)? */
export function neverSent(err: unknown): boolean {
  if (err instanceof UpstreamFailure) return err.kind === 'connect';
  const code = (err as { code?: string })?.code;
  return code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH';
}

function failureKind(err: unknown): FailureKind {
  if (neverSent(err)) return 'connect';
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) return 'timeout';
  const name = (err as Error)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return 'timeout';
  const code = (err as { code?: string })?.code;
  if (err instanceof undiciErrors.SocketError || code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET') return 'reset';
  return 'other';
}

/** Map an undici/network error to the mesh error a client sees, keeping how it failed for the layers. */
export function upstreamError(err: unknown, address = ''): MeshError {
  if (err instanceof MeshError) return err;
  if (err === CLIENT_GONE) return clientGone();
  // undici refused to send what the mesh built (a header value it cannot carry): the mesh's fault, not the
  // upstream's, so it is not retried and does not count against the upstream's breaker or outlier detection.
  if (err instanceof undiciErrors.InvalidArgumentError) return new MeshError('internal', 'The request could not be sent upstream.');
  const kind = failureKind(err);
  if (kind === 'timeout') return new UpstreamFailure('deadline_exceeded', undefined, kind, address);
  const message = kind === 'connect' ? 'The upstream refused the connection.' : 'The upstream failed to answer.';
  return new UpstreamFailure('upstream_failed', message, kind, address);
}

/**
 * A try that ran out of time the caller chose (a client asked for less than the route allows): a 504 from the next
 * hop or our own timeout then says nothing about the upstream's health, so neither the breaker nor outlier
 * detection counts it. Otherwise one client sending `x-request-timeout-ms: 20` could open a breaker for everyone.
 */
export function spentCallersBudget(x: Exchange, err: unknown, status?: number): boolean {
  if (!x.tryBoundByCaller) return false;
  return status === 504 || (err instanceof UpstreamFailure && err.kind === 'timeout');
}

/** RFC 9110 §9.2.2: methods whose repetition has the same intended effect. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}

/** A try that failed the way a gateway sees failure: an error, or a 5xx answer. */
export function isGatewayError(status: number): boolean {
  return status === 502 || status === 503 || status === 504;
}

/** Throw away a response we will not forward (retried or breaker-failed), reusing the connection when small. */
export function discard(response: UpstreamResponse): void {
  response.body.dump();
}
