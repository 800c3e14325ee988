// Trusted proxy CIDRs (node:net BlockList) and the client address they imply: X-Forwarded-For is walked from
// the right, skipping trusted hops, so only values appended by proxies we trust can name the client.
import { BlockList, isIP } from 'node:net';

export class TrustedProxies {
  private readonly list = new BlockList();
  readonly empty: boolean;

  /** `cidrs`: "10.0.0.0/8", "127.0.0.1", "::1/128" … An invalid entry throws with its text. */
  constructor(readonly cidrs: readonly string[]) {
    for (const raw of cidrs) {
      const entry = raw.trim();
      const [address, bits] = entry.split('/');
      const family = isIP(address);
      if (!family) throw new Error(`not an IP address or CIDR: "${raw}"`);
      const type = family === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.list.addAddress(address, type);
      else {
        const prefix = Number(bits);
        if (!/^[0-9]{1,3}$/.test(bits) || prefix > (family === 6 ? 128 : 32)) throw new Error(`invalid prefix length in "${raw}"`);
        this.list.addSubnet(address, prefix, type);
      }
    }
    this.empty = cidrs.length === 0;
  }

  static parse(text: string | undefined): TrustedProxies {
    return new TrustedProxies((text ?? '').split(',').map((s) => s.trim()).filter(Boolean));
  }

  trusts(ip: string): boolean {
    if (this.empty) return false;
    const family = isIP(ip);
    if (!family) return false;
    return this.list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  }

  /**
   * The client address: the peer when it is not a trusted proxy; else the right-most X-Forwarded-For entry that
   * is not trusted (a malformed entry stops the walk at the last trusted hop's claim, never further left).
   */
  clientAddress(peer: string, xff: string | string[] | undefined): string {
    if (!this.trusts(peer) || !xff) return peer;
    const hops = (Array.isArray(xff) ? xff.join(',') : xff).split(',');
    let client = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = unmapped(hops[i].trim());
      if (!isIP(hop)) break;
      client = hop;
      if (!this.trusts(hop)) break;
    }
    return client;
  }
}

/** "::ffff:10.0.0.1" → "10.0.0.1": one spelling per client for logs, XFF and quota keys. */
export function unmapped(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}
