// `meshgate certs put|delete|list`: certificates kept in etcd for every edge (`tls/certificates/<name>`), served by
// SNI within a watch round trip, no file to copy to each node. A pair that does not load is refused here, whole.
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { UsageError } from '../../core/config/usage-error.js';
import type { Store } from '../../core/store/store.js';
import {
  CERTIFICATES_PREFIX,
  CertificateRecordError,
  certificateRecord,
  checkCertificateName,
  checkCertificatePair,
  parseCertificateRecord,
} from '../../core/tls/certificate-record.js';
import { addStoreOptions, fail, withStore, type StoreFlags } from './store-options.js';

export interface CertificateListing {
  name: string;
  names: string[];
  notAfter: string;
  error?: string;
}

export async function listCertificates(store: Store): Promise<CertificateListing[]> {
  const records = await store.getPrefix(CERTIFICATES_PREFIX);
  return [...records].sort(([a], [b]) => a.localeCompare(b)).map(([key, text]) => {
    const name = key.slice(CERTIFICATES_PREFIX.length);
    try {
      const r = parseCertificateRecord(text);
      return { name, names: r.names, notAfter: new Date(r.notAfter).toISOString() };
    } catch (err) {
      return { name, names: [], notAfter: '', error: (err as Error).message };
    }
  });
}

async function readPem(flag: string, file: string | undefined): Promise<string> {
  if (!file) throw new UsageError(`${flag} FILE is required`);
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag} "${file}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function putCommand(): Command {
  return addStoreOptions(
    new Command('put')
      .description('store a certificate and key for every edge (replaces the pair under NAME)')
      .argument('<name>', 'record name, e.g. api.example.com')
      .option('--cert <file>', 'PEM certificate chain')
      .option('--key <file>', 'PEM private key'),
  ).action(async (name: string, opts: StoreFlags & { cert?: string; key?: string }) => {
    const [cert, key] = [await readPem('--cert', opts.cert), await readPem('--key', opts.key)];
    // Checked before etcd is reached: a bad pair is a usage error (exit 2) and nothing is stored.
    let names: string[];
    try {
      checkCertificateName(name);
      names = checkCertificatePair(cert, key).names;
    } catch (err) {
      if (err instanceof CertificateRecordError) throw new UsageError(`certs put ${name}: ${err.message}`);
      throw err;
    }
    await withStore('certs put', opts, async (store) => {
      await store.put(CERTIFICATES_PREFIX + name, certificateRecord(cert, key));
      process.stdout.write(`stored ${name}: serves ${names.join(', ')}\n`);
    });
  });
}

function deleteCommand(): Command {
  return addStoreOptions(new Command('delete').description('remove a stored certificate from every edge').argument('<name>', 'record name')).action(
    async (name: string, opts: StoreFlags) => {
      await withStore('certs delete', opts, async (store) => {
        const key = CERTIFICATES_PREFIX + name;
        if ((await store.get(key)) === undefined) return fail('certs delete', `no certificate named "${name}"`);
        await store.delete(key);
        process.stdout.write(`deleted ${name}\n`);
      });
    },
  );
}

function listCommand(): Command {
  return addStoreOptions(new Command('list').description('stored certificates, the names they serve and their expiry').option('--json', 'JSON output')).action(
    async (opts: StoreFlags & { json?: boolean }) => {
      await withStore('certs list', opts, async (store) => {
        const listing = await listCertificates(store);
        if (opts.json) process.stdout.write(`${JSON.stringify(listing, null, 2)}\n`);
        else for (const c of listing) process.stdout.write(`${c.name}\t${c.error ? `INVALID: ${c.error}` : `${c.names.join(',')}\tnotAfter ${c.notAfter}`}\n`);
      });
    },
  );
}

export function certsCommand(): Command {
  const certs = new Command('certs').description('certificates served by every edge, kept in etcd');
  // exitOverride: usage errors reach the CLI's one handler (exit 2) instead of exiting inside commander.
  for (const sub of [putCommand(), deleteCommand(), listCommand()]) certs.addCommand(sub.exitOverride());
  return certs;
}
