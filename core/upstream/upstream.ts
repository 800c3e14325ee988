// The Upstream type: one call to a chosen origin. Deadline, retry, breaker and balance are layers around it.
import type { Readable } from 'node:stream';
import { errors as undiciErrors } from 'undici';
import { MeshError } from '../errors.js';
import type { Exchange, HeaderValue } from '../pipeline/exchange.js';

export interface UpstreamResponse {
  status: number;
  headers: Record<string, HeaderValue | undefined>;
  body: Readable;
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

/** Did the request provably never reach the upstream (safe to retry any method)? */
export function neverSent(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH';
}

/** Map an undici/network error to the mesh error a client sees. */
export function upstreamError(err: unknown): MeshError {
  if (err instanceof MeshError) return err;
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError)
    return new MeshError('deadline_exceeded');
  const name = (err as Error)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return new MeshError('deadline_exceeded');
  return new MeshError('upstream_failed', neverSent(err) ? 'The upstream refused the connection.' : 'The upstream failed to answer.');
}
