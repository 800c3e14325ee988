// Certificates kept in the store for every edge: `tls/certificates/<name>` = {"cert": PEM chain, "key": PEM}.
// The registry CLI writes them (`meshgate certs put`), each edge watches the prefix and serves them by SNI.
// One parser for both sides, so what the CLI accepts is exactly what an edge installs.
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';

export const CERTIFICATES_PREFIX = 'tls/certificates/';

/** A record name: a DNS-ish label set, usable as an etcd key segment. */
const NAME = /^[a-z0-9*][a-z0-9.*-]{0,252}$/;

export interface StoredCertificate {
  cert: string;
  key: string;
  /** DNS names the certificate serves (SAN DNS entries, else its CN), lowercased. */
  names: string[];
  /** Expiry, epoch ms. */
  notAfter: number;
}

export class CertificateRecordError extends Error {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
  }
}

export function checkCertificateName(name: string): string {
  if (!NAME.test(name)) throw new CertificateRecordError('name', `"${name}" must be lowercase letters, digits, ".", "-" or "*" (at most 253)`);
  return name;
}

/** DNS names a certificate serves: its SAN DNS entries, else its CN. */
export function certificateNames(cert: string | X509Certificate): string[] {
  const x = typeof cert === 'string' ? new X509Certificate(cert) : cert;
  const names = (x.subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4).toLowerCase());
  if (names.length) return names;
  const cn = /CN=([^\n,]+)/.exec(x.subject)?.[1];
  return cn ? [cn.toLowerCase()] : [];
}

/** Check a PEM pair: both parse, the key matches the certificate, and it names at least one host. */
export function checkCertificatePair(cert: string, key: string): StoredCertificate {
  let x: X509Certificate;
  try {
    x = new X509Certificate(cert);
  } catch (err) {
    throw new CertificateRecordError('cert', `not a PEM certificate (${(err as Error).message})`);
  }
  try {
    tls.createSecureContext({ cert, key });
  } catch (err) {
    throw new CertificateRecordError('key', `does not load with the certificate (${(err as Error).message})`);
  }
  const names = certificateNames(x);
  if (!names.length) throw new CertificateRecordError('cert', 'names no host (no SAN DNS entry and no CN)');
  return { cert, key, names, notAfter: Date.parse(x.validTo) };
}

/** Parse a stored record; throws CertificateRecordError naming the bad field. */
export function parseCertificateRecord(text: string): StoredCertificate {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CertificateRecordError('record', 'not JSON');
  }
  const { cert, key } = (value ?? {}) as { cert?: unknown; key?: unknown };
  if (typeof cert !== 'string') throw new CertificateRecordError('cert', 'missing (a PEM string)');
  if (typeof key !== 'string') throw new CertificateRecordError('key', 'missing (a PEM string)');
  return checkCertificatePair(cert, key);
}

export function certificateRecord(cert: string, key: string): string {
  return JSON.stringify({ cert, key });
}
