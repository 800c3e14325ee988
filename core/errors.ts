// The one catalogue of errors the mesh itself answers with: code → status, default message, headers.
// Stages return a MeshError; one rescue at the listener turns it into the JSON body of DESIGN §4.

export const ERROR_CATALOGUE = {
  bad_request: { status: 400, message: 'The request is malformed.' },
  invalid_token: { status: 401, message: 'The access token is missing, malformed, expired or revoked.' },
  insufficient_scope: { status: 403, message: 'The access token does not grant what this route requires.' },
  forbidden: { status: 403, message: 'The request is not allowed.' },
  no_route: { status: 404, message: 'No route matches this request.' },
  method_not_allowed: { status: 405, message: 'This endpoint does not accept this method.' },
  request_timeout: { status: 408, message: 'The request was not received in time.' },
  payload_too_large: { status: 413, message: 'The request body exceeds the route limit.' },
  rate_limited: { status: 429, message: 'The quota for this key is exhausted.' },
  headers_too_large: { status: 431, message: 'The request headers exceed the limit.' },
  internal: { status: 500, message: 'The mesh failed to handle the request.' },
  upstream_failed: { status: 502, message: 'The upstream failed to answer.' },
  breaker_open: { status: 503, message: 'The upstream circuit breaker is open.' },
  no_endpoint: { status: 503, message: 'No healthy endpoint serves this service.' },
  overloaded: { status: 503, message: 'The upstream connection pool is full.' },
  not_ready: { status: 503, message: 'The node has no configuration yet.' },
  auth_unavailable: { status: 503, message: 'Authentication cannot be checked right now (revocation state stale or introspection unavailable).' },
  quota_unavailable: { status: 503, message: 'The quota service is unavailable and the policy fails closed.' },
  deadline_exceeded: { status: 504, message: 'The request deadline was exceeded.' },
  // Never sent (nobody is left to read it): the access log, metrics and spans record it, as nginx's 499 does.
  client_closed: { status: 499, message: 'The client closed the request before the response was complete.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class MeshError {
  readonly status: number;
  readonly message: string;
  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly headers?: Record<string, string>,
  ) {
    this.status = ERROR_CATALOGUE[code].status;
    this.message = message ?? ERROR_CATALOGUE[code].message;
  }
}

export function meshError(code: ErrorCode, message?: string, headers?: Record<string, string>): MeshError {
  return new MeshError(code, message, headers);
}

/** RFC 6750 §3: a 401 names the scheme and the error. */
export function invalidToken(description: string): MeshError {
  return new MeshError('invalid_token', description, {
    'www-authenticate': `Bearer error="invalid_token", error_description="${description.replace(/["\\]/g, '')}"`,
  });
}

/** RFC 6750 §3.1: insufficient_scope names the scope the route needs. */
export function insufficientScope(scope: string): MeshError {
  return new MeshError('insufficient_scope', `The token lacks a required scope: ${scope}.`, {
    'www-authenticate': `Bearer error="insufficient_scope", scope="${scope.replace(/["\\]/g, '')}"`,
  });
}

export function errorBody(err: MeshError, requestId: string): string {
  return JSON.stringify({ error: { code: err.code, message: err.message, requestId } });
}
