// The process logger's async destination: lines written in a burst (most while a write is in flight, so they
// queue in 1 KiB chunks) all reach stdout whole and in order, longer lines than a chunk included; credentials
// are redacted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const LOG = fileURLToPath(new URL('../../../../core/telemetry/log.ts', import.meta.url));

function runLogger(script: string): Promise<string> {
  const source = `import { logger } from ${JSON.stringify(LOG)};\nconst log = logger('burst');\n${script}`;
  return new Promise((resolve, reject) =>
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source], { timeout: 60_000, maxBuffer: 64 << 20 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    ),
  );
}

test('a burst of 5,000 lines, some longer than a write chunk, arrives whole and in order', async () => {
  const stdout = await runLogger(`
    for (let i = 0; i < 5000; i++) log.info({ i, path: i % 97 === 0 ? '/' + 'x'.repeat(3000) : '/p/' + i }, 'line');
  `);
  const lines = stdout.split('\n').filter(Boolean);
  assert.equal(lines.length, 5000);
  lines.forEach((line, i) => {
    const entry = JSON.parse(line) as { i: number; path: string; component: string };
    assert.equal(entry.i, i);
    assert.equal(entry.component, 'burst');
    assert.equal(entry.path.length, i % 97 === 0 ? 3001 : `/p/${i}`.length);
  });
});

test('lines queued when the process exits are flushed, and credentials never reach them', async () => {
  const stdout = await runLogger(`
    for (let i = 0; i < 300; i++) log.info({ i, authorization: 'Bearer secret-' + i, headers: { cookie: 'sid=' + i } }, 'line');
    process.exit(0);
  `);
  const lines = stdout.split('\n').filter(Boolean);
  assert.equal(lines.length, 300);
  assert.doesNotMatch(stdout, /secret-|sid=/);
  assert.equal((JSON.parse(lines[299]) as { authorization: string }).authorization, '[redacted]');
});
