// Headers only the mesh may set: a client-supplied copy is removed before anything reads it.

/** Identity the sidecar forwards after authentication (DESIGN §4), and mesh-internal headers. */
export const IDENTITY_HEADERS = new Set(['x-auth-subject', 'x-auth-claims', 'x-auth-client-id', 'x-auth-scopes']);

export function isMeshOnlyHeader(name: string): boolean {
  return IDENTITY_HEADERS.has(name) || name.startsWith('x-meshgate-');
}
