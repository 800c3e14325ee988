// The admin credential check shared by the HTTP and gRPC APIs: Bearer MESHGATE_ADMIN_TOKEN, compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import { logger } from '../core/telemetry/log.js';
import { client } from '../core/telemetry/metrics.js';

const log = logger('admin-auth');
const failures = new client.Counter({
  name: 'meshgate_authz_admin_auth_failures_total',
  help: 'Admin API calls refused, by reason (missing credential → 401, wrong → 403).',
  labelNames: ['reason'] as const,
});

export type AdminCheck = 'ok' | 'missing' | 'wrong';

export class AdminCredential {
  private readonly digest: Buffer;

  constructor(token: string) {
    if (token.length < 16) throw new RangeError('the admin token must be at least 16 characters');
    this.digest = sha256(token);
  }

  /**
   * `authorization` header (or gRPC metadata) value → ok / missing / wrong. Both sides are hashed first so the
   * comparison is constant-time whatever the lengths. `where` is logged on failure; the credential never is.
   */
  check(authorization: string | undefined, where: Record<string, unknown>): AdminCheck {
    const match = authorization === undefined ? null : /^Bearer +(\S+) *$/i.exec(authorization);
    if (!match) {
      failures.labels({ reason: 'missing' }).inc();
      log.warn(where, 'admin call without a bearer credential');
      return 'missing';
    }
    if (!timingSafeEqual(sha256(match[1]), this.digest)) {
      failures.labels({ reason: 'wrong' }).inc();
      log.warn(where, 'admin call with a wrong credential');
      return 'wrong';
    }
    return 'ok';
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
