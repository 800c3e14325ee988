// One request's state as it moves through the chain. Every field is set in the constructor (stable shape for V8).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Span } from '@opentelemetry/api';
import type { CompiledRoute, CompiledSnapshot } from '../config/compile.js';
import type { MeshError } from '../errors.js';
import type { UpstreamBody } from '../upstream/upstream.js';

/** Who the caller is, once authenticated. Forwarded to the app as x-auth-subject / x-auth-claims. */
export interface Identity {
  subject: string;
  issuer: string;
  clientId: string | undefined;
  /** `subject` and `clientId` as header values (identityHeaderValue), computed once per cached token. */
  subjectHeader: string;
  clientIdHeader: string | undefined;
  scopes: ReadonlySet<string>;
  claims: Readonly<Record<string, unknown>>;
  /** Base64url JSON of the claims, computed once per cached token, not per request. */
  claimsHeader: string;
}

export type HeaderValue = string | string[];

export class Exchange {
  /** performance.now() at accept. */
  readonly startedAt: number;
  /** Normalized path (no query): what is matched and what is forwarded. */
  path: string;
  /** Raw query string including its leading "?", or "". */
  query: string;
  method: string;
  host: string;
  clientIp: string;
  requestId: string;
  span: Span | undefined;
  /** The traceparent to send upstream (the client span's context). */
  traceparent: string | undefined;
  tracestate: string | undefined;
  snapshot: CompiledSnapshot | undefined;
  route: CompiledRoute | undefined;
  /** Length of the matched path prefix, for URLRewrite ReplacePrefixMatch. */
  matchedPrefix: string;
  service: string;
  /** Absolute deadline on the performance.now() clock; Infinity when none. */
  deadlineAt: number;
  /** The deadline is the caller's own budget (x-request-timeout-ms, grpc-timeout), shorter than the route's. */
  deadlineIsCallers: boolean;
  /** The try in flight is limited by the caller's budget, not by the route (set by the deadline layer). */
  tryBoundByCaller: boolean;
  identity: Identity | undefined;
  /** Headers to send upstream, built by the header stages from the client's (never raw passthrough). */
  upstreamHeaders: Record<string, HeaderValue>;
  /** Path forwarded upstream (after rewrite); starts as `path`. */
  upstreamPath: string;
  /** Headers added to the response to the client (rate-limit headers, transforms). */
  responseHeaders: Record<string, HeaderValue>;
  /** Status and headers received from upstream, visible to response stages. */
  status: number;
  upstreamResponseHeaders: Record<string, HeaderValue | undefined>;
  upstreamAddress: string;
  /** The upstream response body, streamed to the client by the listener after the response stages. */
  upstreamBody: UpstreamBody | undefined;
  /** The upstream try in flight (its body once answered): cut when the client goes away first. */
  inflight: UpstreamBody | undefined;
  /** The client went away before its response was complete: no further try is sent, nothing counts it. */
  clientGone: boolean;
  /** Upstream tries made (1 + retries). */
  attempts: number;
  /** The route's per-try timeout (ms) as the deadline layer stamped it for the try in flight; Infinity when none. */
  perTryTimeoutMs: number;
  error: MeshError | undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly tier: string,
  ) {
    this.startedAt = performance.now();
    this.path = '/';
    this.query = '';
    this.method = req.method ?? 'GET';
    this.host = '';
    this.clientIp = req.socket.remoteAddress ?? '';
    this.requestId = '';
    this.span = undefined;
    this.traceparent = undefined;
    this.tracestate = undefined;
    this.snapshot = undefined;
    this.route = undefined;
    this.matchedPrefix = '';
    this.service = '';
    this.deadlineAt = Infinity;
    this.deadlineIsCallers = false;
    this.tryBoundByCaller = false;
    this.identity = undefined;
    this.upstreamHeaders = {};
    this.upstreamPath = '/';
    this.responseHeaders = {};
    this.status = 0;
    this.upstreamResponseHeaders = {};
    this.upstreamAddress = '';
    this.upstreamBody = undefined;
    this.inflight = undefined;
    this.clientGone = false;
    this.attempts = 0;
    this.perTryTimeoutMs = Infinity;
    this.error = undefined;
  }

  /** Milliseconds left before the deadline (Infinity when none). */
  remainingMs(now = performance.now()): number {
    return this.deadlineAt - now;
  }
}
