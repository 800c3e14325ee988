// Makes a server binary available to the test setup: installs its Debian package with apt-get when missing.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

let updated = false;

/** PATH plus the sbin directories Debian server packages may use even when PATH lacks them. */
function findBinary(binary: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/local/bin', '/usr/bin', '/usr/sbin', '/bin'];
  for (const dir of dirs) {
    const candidate = join(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** Return the path of `binary`, installing `debianPackage` first (apt-get update once per process) when absent. */
export function ensureBinary(binary: string, debianPackage: string): string {
  const found = findBinary(binary);
  if (found) return found;
  const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
  const run = (args: string[]) => {
    const [cmd, ...rest] = [...sudo, ...args];
    execFileSync(cmd, rest, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  };
  if (!updated) {
    run(['apt-get', 'update']);
    updated = true;
  }
  run(['apt-get', 'install', '-y', '--no-install-recommends', debianPackage]);
  const installed = findBinary(binary);
  if (!installed) throw new Error(`apt-get installed ${debianPackage} but ${binary} is still not found`);
  return installed;
}
