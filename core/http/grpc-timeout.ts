// The grpc-timeout request header (gRPC over HTTP/2 spec: up to 8 digits and a unit H M S m u n): the caller's
// deadline read as a budget in milliseconds, and the budget left written back for the next hop.

const GRPC_TIMEOUT = /^([0-9]{1,8})([HMSmun])$/;
const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 1e-3, n: 1e-6 };
const MAX_DIGITS = 99_999_999;

/** The budget in ms, or undefined when absent or malformed (then ignored, like a bad x-request-timeout-ms). */
export function grpcTimeoutMs(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = GRPC_TIMEOUT.exec(value);
  return m ? Number(m[1]) * UNIT_MS[m[2]] : undefined;
}

/** A finite budget (ms, at least 1) as a grpc-timeout value: milliseconds while they fit in 8 digits. */
export function grpcTimeout(ms: number): string {
  const whole = Math.max(1, Math.floor(ms));
  return whole <= MAX_DIGITS ? `${whole}m` : `${Math.min(MAX_DIGITS, Math.ceil(whole / 1_000))}S`;
}
