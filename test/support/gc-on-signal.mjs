// Preloaded into a node process under a memory test (NODE_OPTIONS="--expose-gc --import=<this file>"): on SIGUSR2
// it runs full garbage collections and prints one JSON line with its memory figures, so the test reads settled RSS.
// Plain JavaScript: NODE_OPTIONS imports may run before the tsx loader is registered.
process.on('SIGUSR2', () => {
  globalThis.gc?.();
  globalThis.gc?.();
  const m = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ msg: 'gc done', rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers })}\n`);
});
