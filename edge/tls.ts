// Edge TLS: certificate files or a development certificate made on first start; TLS 1.2 floor, 1.3 preferred,
// ALPN h2 and http/1.1.
import { execFile } from 'node:child_process';
import { mkdir, readFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { SecureContextOptions } from 'node:tls';
import { logger } from '../core/telemetry/log.js';

const run = promisify(execFile);

export interface CertificatePair {
  cert: string;
  key: string;
}

/** Modern AEAD suites for TLS 1.2 (Mozilla "intermediate"); TLS 1.3 suites are OpenSSL's defaults. */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export const TLS_DEFAULTS: SecureContextOptions = {
  minVersion: 'TLSv1.2',
  ciphers: TLS12_CIPHERS,
  honorCipherOrder: true,
  ecdhCurve: 'X25519:P-256:P-384',
  // OpenSSL binds a session to this context; node's default is a hash of the process's argv, so two edges started
  // with different flags (node ids, ports) would refuse each other's tickets. One fleet, one context.
  sessionIdContext: 'meshgate-edge',
};

export async function loadCertificate(certFile: string, keyFile: string): Promise<CertificatePair> {
  const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  return { cert, key };
}

/** A self-signed localhost certificate in `dir`, created once with openssl and reused after. */
export async function developmentCertificate(dir: string): Promise<CertificatePair> {
  const certFile = join(dir, 'dev-cert.pem');
  const keyFile = join(dir, 'dev-key.pem');
  try {
    await access(certFile);
    await access(keyFile);
  } catch {
    await mkdir(dir, { recursive: true });
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '365',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
      '-keyout', keyFile, '-out', certFile,
    ]);
    logger('edge-tls').info({ certFile }, 'created a development certificate (self-signed, localhost)');
  }
  return loadCertificate(certFile, keyFile);
}
