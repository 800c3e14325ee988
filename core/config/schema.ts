// The routes.yaml schema (TypeBox): one source for the TypeScript types, the validator and the published JSON Schema.
// Shapes follow Kubernetes Gateway API's HTTPRoute where it can (matches, filters, backendRefs, timeouts, retry).
import { Type, type Static } from '@sinclair/typebox';

const Name = Type.String({ pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$', description: 'DNS-label style name' });
/** Gateway API duration: "250ms", "5s", "1m", "1h". */
export const Duration = Type.String({ pattern: '^([0-9]{1,5}(h|m|s|ms)){1,4}$', description: 'e.g. 250ms, 5s, 1m' });
const HeaderName = Type.String({ pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", minLength: 1, maxLength: 256 });
const HeaderValue = Type.String({ pattern: '^[\\t\\x20-\\x7e\\x80-\\xff]*$', maxLength: 4096 });

const HeaderMatch = Type.Object(
  {
    name: HeaderName,
    value: HeaderValue,
    type: Type.Optional(Type.Literal('Exact')),
  },
  { additionalProperties: false },
);

const PathMatch = Type.Object(
  {
    type: Type.Optional(Type.Union([Type.Literal('PathPrefix'), Type.Literal('Exact')], { default: 'PathPrefix' })),
    // Normalized as requests are (RFC 3986 characters, escapes in uppercase hex, no empty, "." or ".." segments):
    // anything else could never match. "/café" is written "/caf%C3%A9", as requests carry it.
    // (?=/): an empty value is no path (it was accepted, and meant nothing a request could carry).
    value: Type.String({
      pattern: "^(?=/)(/(?!\\.{1,2}(/|$))([A-Za-z0-9\\-._~!$&'()*+,;=:@]|%[0-9A-F]{2})+)*/?$",
      description: 'absolute, normalized path: RFC 3986 characters, %XX escapes in uppercase, no "//", "." or ".." segments',
    }),
  },
  { additionalProperties: false },
);

const Method = Type.Union(
  ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE'].map((m) => Type.Literal(m)),
);

const RouteMatch = Type.Object(
  {
    path: Type.Optional(PathMatch),
    method: Type.Optional(Method),
    headers: Type.Optional(Type.Array(HeaderMatch, { maxItems: 16 })),
  },
  { additionalProperties: false },
);

const HeaderModifier = Type.Object(
  {
    set: Type.Optional(Type.Array(Type.Object({ name: HeaderName, value: HeaderValue }, { additionalProperties: false }))),
    add: Type.Optional(Type.Array(Type.Object({ name: HeaderName, value: HeaderValue }, { additionalProperties: false }))),
    remove: Type.Optional(Type.Array(HeaderName)),
  },
  { additionalProperties: false },
);

// Paths the mesh sends (a rewrite, a health check): RFC 3986 characters only, or every request on them fails.

/**
 * A path a rewrite puts on the request, without "." or ".." segments (nor their %2E spellings) as a match path is:
 * "/../../etc/passwd" was accepted, and leaves the app's tree in an app or proxy that resolves dot segments.
 */
const RewritePath = Type.String({
  pattern: "^(/(?!(\\.|%2[Ee]){1,2}(/|$))([A-Za-z0-9\\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*)+$",
  description: 'absolute path of RFC 3986 characters (%XX escapes for others), no "." or ".." segments',
});

/** A health check's request target: an absolute path, and a query if the check needs one. */
const HealthPath = Type.String({
  pattern: "^/([A-Za-z0-9\\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*(\\?([A-Za-z0-9\\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*)?$",
  description: 'absolute path and optional query of RFC 3986 characters (%XX escapes for others)',
});

const URLRewrite = Type.Object(
  {
    path: Type.Object(
      {
        type: Type.Union([Type.Literal('ReplacePrefixMatch'), Type.Literal('ReplaceFullPath')]),
        replacePrefixMatch: Type.Optional(RewritePath),
        replaceFullPath: Type.Optional(RewritePath),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

const Filter = Type.Union([
  Type.Object({ type: Type.Literal('RequestHeaderModifier'), requestHeaderModifier: HeaderModifier }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('ResponseHeaderModifier'), responseHeaderModifier: HeaderModifier }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('URLRewrite'), urlRewrite: URLRewrite }, { additionalProperties: false }),
]);

const BackendRef = Type.Object(
  {
    name: Name,
    weight: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000000, default: 1 })),
  },
  { additionalProperties: false },
);

const RouteTimeouts = Type.Object(
  {
    request: Type.Optional(Duration),
    backendRequest: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

export const RetryOn = Type.Union(
  ['connect-failure', 'reset', 'gateway-error', '5xx', 'retriable-status-codes'].map((v) => Type.Literal(v)),
);

const RetryPolicy = Type.Object(
  {
    attempts: Type.Integer({ minimum: 1, maximum: 10, description: 'total tries including the first' }),
    retryOn: Type.Optional(Type.Array(RetryOn)),
    statuses: Type.Optional(Type.Array(Type.Integer({ minimum: 400, maximum: 599 }))),
    backoff: Type.Optional(Duration),
    maxBackoff: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

/** Authentication and authorization attached to a route (or named under policies.auth). */
export const AuthPolicy = Type.Object(
  {
    required: Type.Optional(Type.Boolean({ default: true })),
    issuers: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    audiences: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    scopes: Type.Optional(Type.Array(Type.String({ pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e]+$' }))),
    claims: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Array(Type.String())]))),
    opaque: Type.Optional(Type.Boolean({ description: 'also accept opaque tokens, introspected at authz-svc' })),
    anyScopes: Type.Optional(
      Type.Array(Type.String({ pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e]+$' }), { minItems: 1, description: 'at least one of these scopes (besides all of `scopes`)' }),
    ),
    allowMissingExp: Type.Optional(Type.Boolean({ description: 'accept a JWT without exp (refused by default)' })),
    introspectionFailureMode: Type.Optional(
      Type.Union([Type.Literal('open'), Type.Literal('closed')], { default: 'closed', description: 'when authz-svc cannot be reached for an opaque token: closed = 503, open = continue unauthenticated' }),
    ),
  },
  { additionalProperties: false },
);

export const QuotaKeyPart = Type.Union([
  Type.Literal('client-ip'),
  Type.Literal('route'),
  Type.String({ pattern: '^claim:[A-Za-z0-9_.:-]+$' }),
  Type.String({ pattern: '^header:[A-Za-z0-9-]+$' }),
]);

/** A rate limit: `limit` requests per `window`, keyed by the listed parts. */
export const QuotaPolicy = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 1e9 }),
    window: Type.Union([Type.Literal('second'), Type.Literal('minute'), Type.Literal('hour'), Type.Literal('day'), Duration]),
    burst: Type.Optional(Type.Integer({ minimum: 0, maximum: 1e9 })),
    key: Type.Optional(Type.Array(QuotaKeyPart, { minItems: 1, maxItems: 4 })),
    scope: Type.Optional(Type.Union([Type.Literal('local'), Type.Literal('global')], { default: 'local' })),
    failureMode: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('closed')], { default: 'open' })),
  },
  { additionalProperties: false },
);

const CircuitBreaker = Type.Object(
  {
    errorThresholdPercentage: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    volumeThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })),
    resetTimeout: Type.Optional(Duration),
    rollingWindow: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

const OutlierDetection = Type.Object(
  {
    consecutiveErrors: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    baseEjectionTime: Type.Optional(Duration),
    maxEjectionPercent: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
  },
  { additionalProperties: false },
);

const HealthCheck = Type.Object(
  {
    path: HealthPath,
    interval: Type.Optional(Duration),
    timeout: Type.Optional(Duration),
    unhealthyThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    healthyThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  },
  { additionalProperties: false },
);

export const Service = Type.Object(
  {
    name: Name,
    /** Static sidecar-inbound addresses ("host:port"); when absent, endpoints registered in the store are used. */
    endpoints: Type.Optional(Type.Array(Type.String({ pattern: '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$' }))),
    loadBalancer: Type.Optional(Type.Union([Type.Literal('p2c-ewma'), Type.Literal('round-robin')], { default: 'p2c-ewma' })),
    timeouts: Type.Optional(
      Type.Object({ request: Type.Optional(Duration), connect: Type.Optional(Duration), idle: Type.Optional(Duration) }, { additionalProperties: false }),
    ),
    retry: Type.Optional(RetryPolicy),
    retryBudget: Type.Optional(
      Type.Object(
        { percent: Type.Integer({ minimum: 0, maximum: 100 }), minRetriesPerSecond: Type.Optional(Type.Integer({ minimum: 0, maximum: 10000 })) },
        { additionalProperties: false },
      ),
    ),
    circuitBreaker: Type.Optional(CircuitBreaker),
    outlierDetection: Type.Optional(OutlierDetection),
    healthCheck: Type.Optional(HealthCheck),
    connectionPool: Type.Optional(
      Type.Object(
        { maxConnections: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })), maxPending: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000000 })) },
        { additionalProperties: false },
      ),
    ),
    protocol: Type.Optional(Type.Union([Type.Literal('http1'), Type.Literal('http2'), Type.Literal('grpc')], { default: 'http1' })),
  },
  { additionalProperties: false },
);

export const Route = Type.Object(
  {
    name: Name,
    hostnames: Type.Optional(Type.Array(Type.String({ pattern: '^(\\*\\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?$' }))),
    matches: Type.Array(RouteMatch, { minItems: 1, maxItems: 16 }),
    backendRefs: Type.Array(BackendRef, { minItems: 1, maxItems: 16 }),
    filters: Type.Optional(Type.Array(Filter, { maxItems: 16 })),
    timeouts: Type.Optional(RouteTimeouts),
    retry: Type.Optional(RetryPolicy),
    /** An inline auth policy, or the name of one under policies.auth; absent = no authentication. */
    auth: Type.Optional(Type.Union([AuthPolicy, Name])),
    /** Inline quota policies or names under policies.quota; the strictest decides. */
    quota: Type.Optional(Type.Array(Type.Union([QuotaPolicy, Name]), { maxItems: 8 })),
    maxBodySize: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 40 })),
    websocket: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const Issuer = Type.Object(
  {
    issuer: Type.String({ minLength: 1 }),
    jwksUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
    audiences: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    refreshInterval: Type.Optional(Duration),
    /** JWS algorithms accepted for this issuer's tokens (default: every asymmetric one; never none or HMAC). */
    algorithms: Type.Optional(
      Type.Array(
        Type.Union(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'].map((a) => Type.Literal(a))),
        { minItems: 1 },
      ),
    ),
  },
  { additionalProperties: false },
);

export const MeshConfig = Type.Object(
  {
    apiVersion: Type.Literal('meshgate/v1'),
    issuers: Type.Optional(Type.Array(Issuer)),
    services: Type.Array(Service, { maxItems: 10000 }),
    routes: Type.Array(Route, { maxItems: 100000 }),
    policies: Type.Optional(
      Type.Object(
        {
          auth: Type.Optional(Type.Record(Name, AuthPolicy)),
          quota: Type.Optional(Type.Record(Name, QuotaPolicy)),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, $id: 'https://meshgate.dev/schema/routes.json', title: 'meshgate routes.yaml' },
);

export type MeshConfig = Static<typeof MeshConfig>;
export type RouteConfig = Static<typeof Route>;
export type ServiceConfig = Static<typeof Service>;
export type AuthPolicy = Static<typeof AuthPolicy>;
export type QuotaPolicy = Static<typeof QuotaPolicy>;
export type RetryPolicy = Static<typeof RetryPolicy>;
export type IssuerConfig = Static<typeof Issuer>;
