// The edge's certificates: a default pair plus SNI pairs (picked by the names in each certificate's SAN),
// reloaded from their files without a restart: the default via server.setSecureContext, SNI pairs as fresh
// secure contexts. Open connections keep the context they handshook with, so nothing is dropped.
import { watchFile, unwatchFile } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { logger } from '../core/telemetry/log.js';
import { TLS_DEFAULTS, type CertificatePair } from './tls.js';

export interface CertificateFiles {
  certFile: string;
  keyFile: string;
}

interface Entry {
  files: CertificateFiles;
  names: string[];
  pair: CertificatePair;
  context: tls.SecureContext;
}

const log = logger('edge-tls');

/** DNS names a certificate serves: its SAN DNS entries, else its CN. */
export function certificateNames(cert: string): string[] {
  const x = new X509Certificate(cert);
  const san = x.subjectAltName ?? '';
  const names = san
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4).toLowerCase());
  if (names.length) return names;
  const cn = /CN=([^\n,]+)/.exec(x.subject)?.[1];
  return cn ? [cn.toLowerCase()] : [];
}

/** `<name>.crt` + `<name>.key` pairs in a directory. */
export async function pairsInDirectory(dir: string): Promise<CertificateFiles[]> {
  const files = new Set(await readdir(dir));
  return [...files]
    .filter((f) => f.endsWith('.crt') && files.has(`${f.slice(0, -4)}.key`))
    .sort()
    .map((f) => ({ certFile: join(dir, f), keyFile: join(dir, `${f.slice(0, -4)}.key`) }));
}

async function readPair(files: CertificateFiles): Promise<CertificatePair> {
  const [cert, key] = await Promise.all([readFile(files.certFile, 'utf8'), readFile(files.keyFile, 'utf8')]);
  return { cert, key };
}

/** "*.example.com" covers exactly one label (RFC 6125 §6.4.3). */
function covers(name: string, servername: string): boolean {
  if (name === servername) return true;
  if (!name.startsWith('*.')) return false;
  const dot = servername.indexOf('.');
  return dot > 0 && servername.slice(dot + 1) === name.slice(2);
}

export interface CertificateSetOptions {
  /** The certificate for clients without SNI or with an unknown name. */
  defaultPair: CertificatePair;
  defaultFiles?: CertificateFiles;
  sni?: CertificateFiles[];
  /** How often the files are polled for changes (stat-based: survives rename-into-place). */
  pollIntervalMs?: number;
}

export class CertificateSet {
  private entries: Entry[] = [];
  private defaultPair: CertificatePair;
  private ticketKeys: Buffer | undefined;
  private server: tls.Server | undefined;
  private readonly watched: string[] = [];
  /** Bumped on each applied reload (for /config and tests). */
  generation = 0;

  private constructor(private readonly o: CertificateSetOptions) {
    this.defaultPair = o.defaultPair;
  }

  static async load(o: CertificateSetOptions): Promise<CertificateSet> {
    const set = new CertificateSet(o);
    set.entries = await Promise.all((o.sni ?? []).map((files) => set.entry(files)));
    return set;
  }

  private async entry(files: CertificateFiles): Promise<Entry> {
    const pair = await readPair(files);
    const names = certificateNames(pair.cert);
    return { files, names, pair, context: this.context(pair) };
  }

  private context(pair: CertificatePair): tls.SecureContext {
    return tls.createSecureContext({ ...TLS_DEFAULTS, ...pair, ...(this.ticketKeys && { ticketKeys: this.ticketKeys }) });
  }

  /** Options for tls/http2.createSecureServer: the default pair and the SNI callback. */
  serverOptions(): tls.TlsOptions {
    return { ...this.defaultPair, SNICallback: (servername, cb) => cb(null, this.pick(servername)) };
  }

  /** The context for a servername; undefined = the server's default one. */
  pick(servername: string): tls.SecureContext | undefined {
    const name = servername.toLowerCase();
    for (const e of this.entries) if (e.names.includes(name)) return e.context;
    for (const e of this.entries) if (e.names.some((n) => covers(n, name))) return e.context;
    return undefined;
  }

  /** Session-ticket keys shared by the fleet: every context (default and SNI) encrypts with the same key. */
  setTicketKeys(keys: Buffer): void {
    this.ticketKeys = keys;
    this.server?.setTicketKeys(keys);
    this.entries = this.entries.map((e) => ({ ...e, context: this.context(e.pair) }));
  }

  /** Attach to the server and poll every file; a change reloads the pairs (a bad pair is logged and skipped). */
  attach(server: tls.Server): void {
    this.server = server;
    if (this.ticketKeys) server.setTicketKeys(this.ticketKeys);
    const files = [...(this.o.defaultFiles ? [this.o.defaultFiles] : []), ...(this.o.sni ?? [])].flatMap((f) => [f.certFile, f.keyFile]);
    for (const file of files) {
      watchFile(file, { interval: this.o.pollIntervalMs ?? 2_000, persistent: false }, (now, prev) => {
        if (now.mtimeMs !== prev.mtimeMs || now.ino !== prev.ino || now.size !== prev.size) this.scheduleReload();
      });
      this.watched.push(file);
    }
  }

  private pending: NodeJS.Timeout | undefined;
  private scheduleReload(): void {
    // cert and key change in two writes: settle briefly, then reload both together.
    clearTimeout(this.pending);
    this.pending = setTimeout(() => void this.reload(), 50);
    this.pending.unref();
  }

  /** Re-read every file now. A pair that does not load (or whose key does not match) keeps its old context. */
  async reload(): Promise<void> {
    if (this.o.defaultFiles) {
      try {
        const pair = await readPair(this.o.defaultFiles);
        tls.createSecureContext({ ...TLS_DEFAULTS, ...pair }); // throws on a mismatched or broken pair
        this.defaultPair = pair;
        this.server?.setSecureContext({ ...TLS_DEFAULTS, ...pair, ...(this.ticketKeys && { ticketKeys: this.ticketKeys }) });
      } catch (err) {
        log.error({ err, file: this.o.defaultFiles.certFile }, 'certificate reload failed; the previous one keeps serving');
      }
    }
    const next: Entry[] = [];
    for (const old of this.entries) {
      try {
        next.push(await this.entry(old.files));
      } catch (err) {
        log.error({ err, file: old.files.certFile }, 'certificate reload failed; the previous one keeps serving');
        next.push(old);
      }
    }
    this.entries = next;
    this.generation++;
    log.info({ generation: this.generation, sni: next.map((e) => e.names).flat() }, 'certificates reloaded');
  }

  close(): void {
    clearTimeout(this.pending);
    for (const file of this.watched) unwatchFile(file);
    this.watched.length = 0;
  }
}
