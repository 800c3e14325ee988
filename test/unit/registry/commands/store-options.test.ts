// withStore: a registry command's trouble with etcd is one line on stderr and exit 1, never a stack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GRPCInvalidArgumentError } from 'etcd3';
import { withStore } from '../../../../registry/commands/store-options.js';

/** Run `work` in withStore against an etcd that is never reached; what it printed and the exit code it set. */
async function run(work: () => Promise<unknown>): Promise<{ result: unknown; stderr: string; exitCode: typeof process.exitCode }> {
  const write = process.stderr.write;
  const saved = process.exitCode;
  let stderr = '';
  process.stderr.write = ((chunk: string) => ((stderr += chunk), true)) as typeof process.stderr.write;
  try {
    const result = await withStore('apply', { etcd: 'http://127.0.0.1:9', prefix: '/t/' }, work);
    return { result, stderr, exitCode: process.exitCode };
  } finally {
    process.stderr.write = write;
    process.exitCode = saved;
  }
}

test('etcd refusing a request (too large) is one line naming it, exit 1 (was a stack from the CLI)', async () => {
  const refused = await run(async () => {
    throw new GRPCInvalidArgumentError('3 INVALID_ARGUMENT: etcdserver: request is too large');
  });
  assert.deepEqual(refused, {
    result: undefined,
    stderr: 'meshgate apply: etcd refused the request: 3 INVALID_ARGUMENT: etcdserver: request is too large; nothing was written\n',
    exitCode: 1,
  });
  // Anything else is no etcd trouble: it is thrown on, to the one rescue.
  await assert.rejects(run(async () => { throw new TypeError('a bug'); }), /a bug/);
  assert.equal((await run(async () => 'done')).result, 'done');
});
