// Headers only the mesh may set: a client-supplied copy is removed before anything reads it; and how the mesh
// writes a claim into one of them.

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

/** Visible ASCII but `%`: a claim made only of these is forwarded as it is. */
const PLAIN = /^[\x21-\x24\x26-\x7e]*$/;

/**
 * A claim (`sub`, `client_id`) as an identity header value. A header value cannot carry every string: undici
 * refuses control characters and anything above U+00FF, and parsers trim spaces at either end. So characters
 * outside visible ASCII, and `%` itself, are percent-encoded as UTF-8 (RFC 3986 §2.1): `decodeURIComponent` on the
 * header always gives the claim back, and the usual subjects (ids, e-mail addresses) pass unchanged.
 */
export function identityHeaderValue(claim: string): string {
  if (PLAIN.test(claim)) return claim;
  let out = '';
  for (const ch of claim) {
    const code = ch.codePointAt(0)!;
    if (code > 0x20 && code < 0x7f && code !== 0x25) out += ch;
    else for (const byte of Buffer.from(ch)) out += `%${byte < 16 ? '0' : ''}${byte.toString(16).toUpperCase()}`;
  }
  return out;
}
