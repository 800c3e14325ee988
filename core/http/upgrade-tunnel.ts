// WebSocket upgrade pass-through (RFC 6455 §4, RFC 9110 §7.8): the upgrade request runs the listener's chain up
// to (not including) the forward stage — normalize, route, auth, quota, header transforms — on a route that
// allows it (`websocket: true`); then its head is re-serialized to a raw TCP connection to the target and the
// two sockets are piped. Refusals are the usual JSON errors, written on the raw socket.
import net from 'node:net';
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { MeshError, errorBody } from '../errors.js';
import type { SnapshotHolder } from '../config/snapshot.js';
import type { Logger } from '../telemetry/log.js';
import { Engine, runChain } from '../pipeline/engine.js';
import { Exchange } from '../pipeline/exchange.js';
import { bodyKind } from './request-body.js';
import { rawErrorResponse } from './serve.js';
import { splitHostPort } from './host-port.js';
import { startUpstreamCall } from '../stages/forward.js';
import { endSpan, failSpan, tracer } from '../telemetry/tracing.js';

/**
 * The node's open tunnels. An upgraded socket is no longer the HTTP server's (closeAllConnections skips it) but
 * still holds the listener's close open: a graceful close gives the tunnels the grace period, then cuts them.
 */
export class Tunnels {
  private readonly open = new Set<Duplex>();
  /** Called when the last open tunnel ends (set while a drain waits). */
  private emptied: (() => void) | undefined;

  add(socket: Duplex): void {
    this.open.add(socket);
    socket.once('close', () => {
      this.open.delete(socket);
      if (this.open.size === 0) this.emptied?.();
    });
  }

  get size(): number {
    return this.open.size;
  }

  /** Resolves when every tunnel ended by itself, or after `graceMs` once the rest are cut. */
  async drain(graceMs: number): Promise<void> {
    if (!this.open.size) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        for (const socket of this.open) socket.destroy();
      }, graceMs);
      this.emptied = () => {
        clearTimeout(timer);
        this.emptied = undefined;
        resolve();
      };
    });
  }
}

export interface UpgradeOptions<D> {
  engine: Engine<D>;
  holder: SnapshotHolder;
  log: Logger;
  /** host:port to open the tunnel to, once the chain admitted the request. */
  target(x: Exchange): string | MeshError;
  connectTimeoutMs?: number;
  /** Where open tunnels are kept for the node's graceful close. */
  tunnels?: Tunnels;
  /** The listener's request handler: serves a request whose Upgrade is not websocket as a plain request. */
  serve?: (req: IncomingMessage, res: ServerResponse) => void;
}

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

const FORBIDDEN_VALUE = /[\r\n\0]/;

function requestHead(x: Exchange, upgrade: string): string {
  let head = `${x.method} ${x.upstreamPath}${x.query} HTTP/1.1\r\n`;
  for (const name in x.upstreamHeaders) {
    const value = x.upstreamHeaders[name];
    for (const v of Array.isArray(value) ? value : [value]) if (!FORBIDDEN_VALUE.test(v)) head += `${name}: ${v}\r\n`;
  }
  return `${head}connection: upgrade\r\nupgrade: ${upgrade}\r\n\r\n`;
}

/** An upstream's status line longer than this is not HTTP: the tunnel reports 502 for it. */
const MAX_STATUS_LINE = 1024;

export function createUpgradeHandler<D>(o: UpgradeOptions<D>): UpgradeHandler {
  const t = tracer(o.engine.tier);
  const refuse = (x: Exchange, socket: Duplex, err: MeshError) => {
    x.error = err;
    x.status = err.status;
    if (!x.requestId) x.requestId = randomUUID();
    if (socket.writable) socket.end(rawErrorResponse(err.status, errorBody(err, x.requestId), { 'x-request-id': x.requestId, ...err.headers }));
    else socket.destroy();
  };

  return (req, socket, head) => {
    const upgrade = String(req.headers.upgrade ?? '');
    if (o.serve && upgrade.toLowerCase() !== 'websocket' && bodyKind(req) === 'none') return serveWithoutUpgrade(req, socket, o.serve, o.tunnels);
    const x = new Exchange(req, new ServerResponse(req), o.engine.tier);
    socket.on('error', () => socket.destroy());
    o.tunnels?.add(socket);
    const snapshot = o.holder.current;
    if (!snapshot) return refuse(x, socket, new MeshError('not_ready'));
    x.snapshot = snapshot;
    const chains = o.engine.chainsFor(snapshot);
    let logged = false;
    const finish = () => {
      if (logged) return;
      logged = true;
      for (const stage of chains.log) {
        try {
          stage.response?.(x);
        } catch (err) {
          o.log.error({ err, stage: stage.name }, 'log stage failed');
        }
      }
    };
    socket.once('close', finish);
    void (async () => {
      if (upgrade.toLowerCase() !== 'websocket' || req.method !== 'GET')
        return refuse(x, socket, new MeshError('bad_request', 'Only WebSocket upgrades (GET, Upgrade: websocket) are accepted.'));
      const pre = await runChain(chains.pre, x);
      if (pre) return refuse(x, socket, pre instanceof MeshError ? pre : new MeshError('bad_request'));
      const chain = x.route && chains.routes.get(x.route.name);
      if (!chain) return refuse(x, socket, new MeshError('no_route'));
      if (!x.route!.websocket) return refuse(x, socket, new MeshError('bad_request', 'This route does not accept WebSocket upgrades.'));
      // Everything but the terminal forward stage (the last one): auth, quota and header transforms apply.
      const verdict = await runChain(chain.request.slice(0, -1), x);
      if (verdict) return refuse(x, socket, verdict instanceof MeshError ? verdict : new MeshError('forbidden'));
      const target = o.target(x);
      if (target instanceof MeshError) return refuse(x, socket, target);
      x.upstreamAddress = target;
      // Trace context and the remaining budget go upstream as on a forwarded request (the tunnel skips the forward
      // stage: without this, edge and sidecar each started a trace of their own, and the app got no budget).
      const span = startUpstreamCall(x, t, o.engine.tier, x.remainingMs());
      const { host, port } = splitHostPort(target);
      const upstream = net.connect({ host, port: port! });
      upstream.setTimeout(o.connectTimeoutMs ?? 5_000, () => upstream.destroy(new Error('connect timeout')));
      let answered = false;
      upstream.once('connect', () => {
        upstream.setTimeout(0);
        upstream.write(requestHead(x, upgrade));
        if (head.length) upstream.write(head);
        socket.pipe(upstream);
        // The status line says whether the upstream took the upgrade (101) or refused it (a 403, a 400): logs,
        // metrics and the span carry that status, not 101 for any connection made.
        let start: Buffer = Buffer.alloc(0);
        const onStart = (chunk: Buffer) => {
          start = start.length ? Buffer.concat([start, chunk]) : chunk;
          const eol = start.indexOf('\r\n');
          if (eol === -1 && start.length < MAX_STATUS_LINE) return;
          upstream.off('data', onStart);
          answered = true;
          const status = /^HTTP\/1\.[01] ([1-5][0-9]{2}) /.exec(start.toString('latin1', 0, eol === -1 ? start.length : eol))?.[1];
          x.status = status ? Number(status) : 502;
          endSpan(span, x.status, true);
          socket.write(start);
          upstream.pipe(socket);
        };
        upstream.on('data', onStart);
      });
      upstream.once('error', (err) => {
        if (answered) socket.destroy();
        else {
          failSpan(span, 'upstream_failed');
          refuse(x, socket, new MeshError('upstream_failed', 'The upstream refused the WebSocket connection.'));
        }
        o.log.debug({ err: err.message, target }, 'upgrade tunnel failed');
      });
      upstream.once('close', () => socket.destroy());
      socket.once('close', () => upstream.destroy());
    })().catch((err) => {
      o.log.error({ err }, 'unexpected error in upgrade');
      refuse(x, socket, new MeshError('internal'));
    });
  };
}

/**
 * RFC 9110 §7.8: a server may ignore Upgrade. `curl --http2` on an http:// URL asks for h2c that way (RFC 9113 drops
 * it), and a client may name any protocol; such a request is answered as the HTTP/1.1 request it also is, through
 * the listener's own handler (chain, logs, metrics). Node has already handed the socket over (the server has an
 * 'upgrade' listener for WebSocket) and no longer parses it, so that one response closes the connection.
 */
function serveWithoutUpgrade(req: IncomingMessage, socket: Duplex, serve: (req: IncomingMessage, res: ServerResponse) => void, tunnels?: Tunnels): void {
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as net.Socket);
  socket.on('error', () => socket.destroy());
  res.once('finish', () => socket.end());
  tunnels?.add(socket); // a graceful close waits for it like for a tunnel, then cuts it
  serve(req, res);
}
