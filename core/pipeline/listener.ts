// The one rescue at the listener: run the chains, turn a MeshError (or an unexpected throw) into the JSON
// error of DESIGN §4 (a gRPC status for gRPC calls), stream the upstream response, and run the log stages
// when the response is done.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { MeshError, errorBody } from '../errors.js';
import type { SnapshotHolder } from '../config/snapshot.js';
import { forwardableResponseHeaders } from '../http/forward-headers.js';
import { isGrpcRequest, sendGrpcError } from '../http/grpc-status.js';
import { onBodyFailure } from '../http/serve.js';
import { internalErrors } from '../telemetry/metrics.js';
import type { Logger } from '../telemetry/log.js';
import { CLIENT_GONE } from '../upstream/upstream.js';
import { Engine, runChain, type CompiledChains } from './engine.js';
import { Exchange } from './exchange.js';
import type { Reply, Stage, Verdict } from './stage.js';

export interface ListenerOptions<D> {
  engine: Engine<D>;
  holder: SnapshotHolder;
  log: Logger;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export function createRequestHandler<D>({ engine, holder, log }: ListenerOptions<D>): RequestHandler {
  const tier = engine.tier;

  const finish = (x: Exchange, chains: CompiledChains | undefined) => {
    if (!chains) return;
    for (const stage of chains.log) {
      try {
        stage.response?.(x);
      } catch (err) {
        log.error({ err, stage: stage.name }, 'log stage failed');
      }
    }
  };

  const rescue = (x: Exchange, err: unknown) => {
    internalErrors.labels(tier).inc();
    log.error({ err, requestId: x.requestId, route: x.route?.name }, 'unexpected error in chain');
    sendError(x, new MeshError('internal'));
  };

  const respond = (x: Exchange, verdict: Verdict, response: Stage[]) => {
    // The client left while a stage or the upstream worked: nothing is sent, the upstream's answer is dropped.
    if (x.clientGone) return x.upstreamBody?.destroy(CLIENT_GONE);
    if (verdict instanceof MeshError) return sendError(x, verdict);
    if (verdict) return sendReply(x, verdict);
    if (!x.upstreamBody) return sendError(x, new MeshError('internal', 'The forward stage produced no response.'));
    for (const stage of response) stage.response!(x);
    sendUpstream(x);
  };

  return (req, res) => {
    const x = new Exchange(req, res, tier);
    const snapshot = holder.current;
    if (!snapshot) {
      sendError(x, new MeshError('not_ready'));
      return;
    }
    x.snapshot = snapshot;
    const chains = engine.chainsFor(snapshot);
    res.once('close', () => {
      // writableEnded, not writableFinished: an HTTP/2 response reads as finished once its stream is closed, a
      // client's RST_STREAM included, so a cancelled gRPC call was never cancelled upstream.
      if (!res.writableEnded) {
        // The client went away first (or the response was cut).
        x.error ??= new MeshError('client_closed');
        cancelTry(x);
      } else if (!req.complete && !req.destroyed) drainUnread(req);
      finish(x, chains);
    });
    // The body stalled past the request timeout or its framing broke (core/http/serve.ts): answered as this request,
    // once, and its try cancelled like a departed client's (the rest of the body never comes).
    onBodyFailure(res, (err) => {
      cancelTry(x);
      sendError(x, err);
    });
    try {
      const pre = runChain(chains.pre, x);
      if (pre === undefined) return routed(x, chains);
      if (pre instanceof Promise) {
        pre.then((v) => (v === undefined ? routed(x, chains) : respond(x, v, [])), (err) => rescue(x, err));
        return;
      }
      respond(x, pre, []);
    } catch (err) {
      rescue(x, err);
    }
  };

  function routed(x: Exchange, chains: CompiledChains): void {
    const chain = x.route && chains.routes.get(x.route.name);
    if (!chain) return sendError(x, new MeshError('no_route'));
    try {
      const verdict = runChain(chain.request, x);
      if (verdict instanceof Promise) verdict.then((v) => respond(x, v, chain.response), (err) => rescue(x, err));
      else respond(x, verdict, chain.response);
    } catch (err) {
      rescue(x, err);
    }
  }
}

/**
 * The client will not take an answer (gone, or its body never came whole): no further try is sent, and the one in
 * flight is cancelled with a reason no layer takes for the upstream's failure (nginx and Envoy neither retry it
 * nor count it against a breaker).
 */
function cancelTry(x: Exchange): void {
  x.clientGone = true;
  x.inflight?.destroy(CLIENT_GONE);
}

/**
 * The response went out before the request body was read to its end (an app that answers a large upload early).
 * undici stops reading it then, and node leaves a body it saw consumed alone, so on a keep-alive connection the rest
 * of the body stalled the next request (and, through the edge's pooled connection to a sidecar, other clients'
 * requests). What is left is read and thrown away, as node does with a body nobody read.
 */
function drainUnread(req: IncomingMessage): void {
  req.unpipe();
  req.resume();
}

function baseHeaders(x: Exchange): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = { ...x.responseHeaders };
  if (x.requestId) headers['x-request-id'] = x.requestId;
  return headers;
}

export function sendError(x: Exchange, err: MeshError): void {
  x.error = err;
  x.status = err.status;
  // Refused before the trace phase (e.g. a malformed target): the error still gets an id to quote.
  if (!x.requestId) x.requestId = randomUUID();
  const res = x.res;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers = baseHeaders(x);
  if (err.headers) Object.assign(headers, err.headers);
  if (isGrpcRequest(x.req)) {
    x.upstreamBody?.destroy();
    return sendGrpcError(res, err, headers);
  }
  const body = errorBody(err, x.requestId);
  headers['content-type'] = 'application/json';
  headers['content-length'] = String(Buffer.byteLength(body));
  // A malformed request may have left unread bytes behind: do not reuse that connection.
  if ((err.status === 400 || err.status === 413 || err.status === 431) && x.req.httpVersionMajor === 1) headers.connection = 'close';
  x.upstreamBody?.destroy();
  res.writeHead(err.status, headers);
  res.end(x.method === 'HEAD' ? undefined : body);
}

function sendReply(x: Exchange, reply: Reply): void {
  x.status = reply.status;
  const headers = { ...baseHeaders(x), ...reply.headers };
  x.res.writeHead(reply.status, headers);
  x.res.end(reply.body);
}

function sendUpstream(x: Exchange): void {
  const res = x.res;
  const headers = forwardableResponseHeaders(x.upstreamResponseHeaders);
  for (const name in x.responseHeaders) headers[name] = x.responseHeaders[name];
  if (x.requestId && headers['x-request-id'] === undefined) headers['x-request-id'] = x.requestId;
  res.writeHead(x.status, headers);
  x.upstreamBody!.pipeTo(res, (err) => {
    if (err && err !== CLIENT_GONE && !res.writableFinished) {
      // The upstream reset mid-response: the status is already sent, so the only honest signal is a reset.
      x.error = new MeshError('upstream_failed', 'The upstream connection failed mid-response.');
      res.destroy();
    }
  });
}
