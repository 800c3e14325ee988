// Headers only the mesh may set: a client-supplied copy is removed before anything reads it.

/** Identity the sidecar forwards after authentication (DESIGN §4), and mesh-internal headers. */
export const IDENTITY_HEADERS = new Set(['x-auth-subject', 'x-auth-claims', 'x-auth-client-id', 'x-auth-scopes']);

/**
 * Also in any spelling with "_" for "-": CGI-style servers (PHP, WSGI, Rack) read both `x_auth_subject` and
 * `x-auth-subject` as HTTP_X_AUTH_SUBJECT, so a client could pass an identity under the underscore name, on a
 * route where the mesh sets none (nginx drops such names by default for this reason).
 */
export function isMeshOnlyHeader(name: string): boolean {
  if (name.charCodeAt(0) !== 120 /* x */) return false;
  const canonical = name.includes('_') ? name.replace(/_/g, '-') : name;
  return IDENTITY_HEADERS.has(canonical) || canonical.startsWith('x-meshgate-');
}
