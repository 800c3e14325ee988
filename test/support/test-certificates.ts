// Self-signed test certificates made with openssl into a temp dir: one per call, with the SANs asked for.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';

const run = promisify(execFile);

export interface TestCertificate {
  certFile: string;
  keyFile: string;
}

/** `<dir>/<file>.crt` + `.key`, CN = `cn`, SAN = `san` (e.g. "DNS:a.test,IP:127.0.0.1"). */
export async function makeCertificate(dir: string, file: string, cn: string, san: string): Promise<TestCertificate> {
  const certFile = join(dir, `${file}.crt`);
  const keyFile = join(dir, `${file}.key`);
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${san}`, '-keyout', keyFile, '-out', certFile,
  ]);
  return { certFile, keyFile };
}
