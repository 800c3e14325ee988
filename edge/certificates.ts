// The edge's certificates: a default pair plus SNI pairs (picked by the names in each certificate's SAN), from
// files reloaded without a restart (the default via server.setSecureContext, SNI pairs as fresh secure contexts)
// and from the store (`tls/certificates/<name>`, watched: a put or delete reaches every edge at once). Open
// connections keep the context they handshook with, so nothing is dropped.
import { watchFile, unwatchFile } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import tls from 'node:tls';
import { logger } from '../core/telemetry/log.js';
import type { Store, Watcher } from '../core/store/store.js';
import { CERTIFICATES_PREFIX, certificateNames, parseCertificateRecord } from '../core/tls/certificate-record.js';
import { TLS_DEFAULTS, type CertificatePair } from './tls.js';

export interface CertificateFiles {
  certFile: string;
  keyFile: string;
}

interface Entry {
  /** Where the pair comes from: files, or a store key. */
  files: CertificateFiles | undefined;
  storeKey?: string;
  names: string[];
  pair: CertificatePair;
  context: tls.SecureContext;
}

const log = logger('edge-tls');

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
  /** File pairs first, then store pairs: an exact name wins over a wildcard either way. */
  private entries: Entry[] = [];
  private fileEntries: Entry[] = [];
  private readonly storeEntries = new Map<string, Entry>();
  private storeWatcher: Watcher | undefined;
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
    set.fileEntries = await Promise.all((o.sni ?? []).map((files) => set.entry(files)));
    set.combine();
    return set;
  }

  private combine(): void {
    this.entries = [...this.fileEntries, ...this.storeEntries.values()];
  }

  /**
   * Serve the certificates under `tls/certificates/` too, following every change. A record that does not load
   * (bad JSON, mismatched key) is logged with its field and the previous pair under that key keeps serving.
   */
  async watchStore(store: Store): Promise<void> {
    this.storeWatcher = await store.watch(CERTIFICATES_PREFIX, (event) => {
      if (event.type === 'reset') this.storeEntries.clear();
      else if (event.type === 'delete') this.storeEntries.delete(event.key);
      else {
        try {
          const record = parseCertificateRecord(event.value);
          const pair = { cert: record.cert, key: record.key };
          this.storeEntries.set(event.key, { files: undefined, storeKey: event.key, names: record.names, pair, context: this.context(pair) });
          log.info({ key: event.key, names: record.names, notAfter: new Date(record.notAfter).toISOString() }, 'certificate installed from the store');
        } catch (err) {
          log.error({ key: event.key, err: (err as Error).message }, 'certificate record refused; the previous one under this key keeps serving');
          return;
        }
      }
      this.combine();
      this.generation++;
    });
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
    this.fileEntries = this.fileEntries.map((e) => ({ ...e, context: this.context(e.pair) }));
    for (const [key, e] of this.storeEntries) this.storeEntries.set(key, { ...e, context: this.context(e.pair) });
    this.combine();
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
    for (const old of this.fileEntries) {
      try {
        next.push(await this.entry(old.files!));
      } catch (err) {
        log.error({ err, file: old.files!.certFile }, 'certificate reload failed; the previous one keeps serving');
        next.push(old);
      }
    }
    this.fileEntries = next;
    this.combine();
    this.generation++;
    log.info({ generation: this.generation, sni: next.map((e) => e.names).flat() }, 'certificates reloaded');
  }

  close(): void {
    void this.storeWatcher?.close();
    this.storeWatcher = undefined;
    clearTimeout(this.pending);
    for (const file of this.watched) unwatchFile(file);
    this.watched.length = 0;
  }
}
