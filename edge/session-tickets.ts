// TLS session-ticket keys shared by the edge fleet through the store (`tls/ticket-keys`), so a client resumes on
// any edge node. Every edge watches the key and installs it; rotation is a compare-and-swap on the record, so
// of all the edges that notice the period is over exactly one writes the next key (no separate election).
//
// Honest limit: Node's setTicketKeys takes ONE 48-byte key (OpenSSL's multi-key ticket callback is not exposed),
// so after a rotation a ticket sealed with the previous key no longer resumes: that client does one full
// handshake (no error) and gets a ticket under the new key. The record keeps `previous` for tooling and for a
// runtime that can use it; the window is bounded by the ticket lifetime (sessionTimeout, 300 s by default),
// far shorter than the rotation period.
import { randomBytes } from 'node:crypto';
import type { Store, Watcher } from '../core/store/store.js';
import { logger } from '../core/telemetry/log.js';

export const TICKET_KEYS_KEY = 'tls/ticket-keys';

export interface TicketKeyRecord {
  /** base64 of 48 bytes: 16 name + 16 HMAC + 16 AES (Node's layout). */
  current: string;
  previous?: string;
  /** Epoch ms of the last rotation. */
  rotatedAt: number;
}

export interface SessionTicketOptions {
  store: Store;
  /** Installs the key on every listener / secure context. */
  apply(key: Buffer): void;
  /** Rotation period (default 12 h). */
  periodMs?: number;
  /** How often this node checks whether the period is over (default period / 10). */
  checkIntervalMs?: number;
  now?: () => number;
}

const log = logger('edge-tickets');

function parse(text: string | undefined): TicketKeyRecord | undefined {
  if (!text) return undefined;
  try {
    const r = JSON.parse(text) as TicketKeyRecord;
    if (typeof r.current === 'string' && Buffer.from(r.current, 'base64').length === 48 && typeof r.rotatedAt === 'number') return r;
  } catch {
    /* refused below */
  }
  return undefined;
}

export class SessionTickets {
  private watcher: Watcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private installed = '';
  private readonly periodMs: number;
  private readonly now: () => number;

  private constructor(private readonly o: SessionTicketOptions) {
    this.periodMs = o.periodMs ?? 12 * 3600_000;
    this.now = o.now ?? Date.now;
  }

  /** Install the fleet's key (creating it when nobody has yet), follow changes, and rotate when due. */
  static async start(o: SessionTicketOptions): Promise<SessionTickets> {
    const t = new SessionTickets(o);
    await t.rotateIfDue();
    t.watcher = await o.store.watch(TICKET_KEYS_KEY, (event) => {
      if (event.type === 'put' && event.key === TICKET_KEYS_KEY) t.install(parse(event.value));
    });
    t.install(parse(await o.store.get(TICKET_KEYS_KEY)));
    const every = o.checkIntervalMs ?? Math.max(1_000, Math.floor(t.periodMs / 10));
    t.timer = setInterval(() => void t.rotateIfDue().catch((err) => log.warn({ err }, 'ticket key rotation failed')), every);
    t.timer.unref();
    return t;
  }

  private install(record: TicketKeyRecord | undefined): void {
    if (!record) return;
    if (record.current === this.installed) return;
    this.installed = record.current;
    this.o.apply(Buffer.from(record.current, 'base64'));
    log.info({ rotatedAt: new Date(record.rotatedAt).toISOString() }, 'session ticket key installed');
  }

  /** Write the next key when the period is over; a lost compare-and-swap means another edge did it. */
  async rotateIfDue(): Promise<boolean> {
    const text = await this.o.store.get(TICKET_KEYS_KEY);
    const record = parse(text);
    const now = this.now();
    if (record && now - record.rotatedAt < this.periodMs) return false;
    const next: TicketKeyRecord = { current: randomBytes(48).toString('base64'), previous: record?.current, rotatedAt: now };
    const won = await this.o.store.compareAndSwap(TICKET_KEYS_KEY, text, [{ key: TICKET_KEYS_KEY, value: JSON.stringify(next) }]);
    if (won) {
      log.info('session ticket key rotated');
      this.install(next);
    }
    return won;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.watcher?.close();
  }
}
