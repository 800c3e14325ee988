// The process logger's async destination: lines written in a burst (most while a write is in flight, so they
// queue) all reach stdout whole and in order, lines longer than a write chunk included; a stdout that stops
// reading never blocks the logger and never grows its queue past 8 MiB (the rest is dropped and counted);
// credentials are redacted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { reapOnExit } from '../../../support/reap.js';

const LOG = fileURLToPath(new URL('../../../../core/telemetry/log.ts', import.meta.url));
const METRICS = fileURLToPath(new URL('../../../../core/telemetry/metrics.ts', import.meta.url));

function runLogger(script: string): Promise<string> {
  const source = `import { accessLogger, logger } from ${JSON.stringify(LOG)};\nconst log = logger('burst');\n${script}`;
  return new Promise((resolve, reject) =>
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source], { timeout: 60_000, maxBuffer: 64 << 20 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    ),
  );
}

test('a burst of 5,000 lines, some longer than a write chunk, arrives whole and in order', async () => {
  // Access-log lines (batched) with a lifecycle line every 50 (written at once): one order on stdout.
  const stdout = await runLogger(`
    const access = accessLogger();
    for (let i = 0; i < 5000; i++) (i % 50 === 0 ? log : access).info({ i, path: i % 97 === 0 ? '/' + 'x'.repeat(20000) : '/p/' + i }, 'line');
  `);
  const lines = stdout.split('\n').filter(Boolean);
  assert.equal(lines.length, 5000);
  lines.forEach((line, i) => {
    const entry = JSON.parse(line) as { i: number; path: string; component: string };
    assert.equal(entry.i, i);
    assert.equal(entry.component, i % 50 === 0 ? 'burst' : 'access');
    assert.equal(entry.path.length, i % 97 === 0 ? 20001 : `/p/${i}`.length);
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

test('a stdout that stops reading does not block logging: past an 8 MiB queue lines are dropped and counted', async () => {
  // 40,000 lines of ~560 bytes (~22 MB) while nobody reads the child's stdout: the loop must finish anyway.
  const source = `
    import { writeSync } from 'node:fs';
    import { accessLogger } from ${JSON.stringify(LOG)};
    import { registry } from ${JSON.stringify(METRICS)};
    const log = accessLogger(); // batched: a dropped batch counts each of its lines
    const pad = 'p'.repeat(400);
    for (let i = 0; i < 40000; i++) {
      log.info({ i, pad }, 'line');
      if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
    }
    const metric = (await registry.getSingleMetric('meshgate_log_lines_dropped_total').get()).values[0].value;
    writeSync(2, 'finished ' + metric + '\\n');
  `;
  const child = reapOnExit(spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stderr = '';
  const finished = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the logging loop blocked: ${stderr}`)), 60_000);
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      const m = /finished (\d+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  // stdout is not read until the child has logged everything: its pipe fills after 64 KB.
  const dropped = await finished;
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  assert.equal(code, 0, stderr);
  assert.match(stderr, /dropping lines while 8 MiB wait to be written/);
  const lines = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { i: number });
  assert.ok(dropped > 10_000, `dropped ${dropped}`);
  assert.equal(lines.length + dropped, 40_000);
  // What was kept came out in order: the oldest lines, up to the bound, then nothing newer was queued.
  lines.forEach((l, k) => assert.ok(k === 0 || l.i > lines[k - 1].i));
  // The queue's bound, plus what the pipe and the reader's buffer held before the stall.
  assert.ok(Buffer.byteLength(stdout) <= 8.5 * 1024 * 1024, `${Buffer.byteLength(stdout)} bytes`);
});

/** Run `script` (with `logger` and `accessLogger` imported) in a child kept alive; resolve with its first `count` lines. */
async function linesWhileRunning(script: string, count: number): Promise<string[]> {
  const source = `
    import { logger, accessLogger } from ${JSON.stringify(LOG)};
    ${script}
    setTimeout(() => process.exit(0), 30_000); // kept alive; the test ends it
  `;
  const child = reapOnExit(spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source], { stdio: ['ignore', 'pipe', 'inherit'] }));
  try {
    const lines = await new Promise<string[]>((resolve, reject) => {
      let stdout = '';
      const timer = setTimeout(() => reject(new Error(`lines held back; got: ${stdout}`)), 20_000);
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        const lines = stdout.split('\n').filter(Boolean);
        if (lines.length >= count) {
          clearTimeout(timer);
          resolve(lines);
        }
      });
    });
    assert.equal(child.exitCode, null, 'the lines came out while the process was still running');
    return lines;
  } finally {
    child.kill('SIGTERM');
  }
}

test('a quiet process still gets its access-log line out while it runs, without more lines or exit', async () => {
  const [line] = await linesWhileRunning(`accessLogger().info({ n: 1 }, 'alone');`, 1);
  const entry = JSON.parse(line) as { msg: string; component: string };
  assert.equal(entry.msg, 'alone');
  assert.equal(entry.component, 'access');
});

test('a line outside the access log goes out after the access lines logged before it, in logging order', async () => {
  const lines = await linesWhileRunning(
    `
    const access = accessLogger();
    access.info('a1');
    access.info('a2');
    logger('lifecycle').warn('swapped');
    access.info('a3');
  `,
    4,
  );
  assert.deepEqual(
    lines.map((l) => (JSON.parse(l) as { msg: string }).msg),
    ['a1', 'a2', 'swapped', 'a3'],
  );
});
