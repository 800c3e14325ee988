// host:port as the mesh writes upstream addresses ("10.0.0.5:15006", "[::1]:15006").

/** The host (an IPv6 literal without its brackets) and the port; no port when there is no colon. */
export function splitHostPort(address: string): { host: string; port: number | undefined } {
  const colon = address.lastIndexOf(':');
  if (colon === -1) return { host: address, port: undefined };
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(address.slice(colon + 1)) };
}
