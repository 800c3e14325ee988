// `--workers <n|auto>` for the data-plane nodes: how many node:cluster workers share the node's ports (default 1).
import { availableParallelism } from 'node:os';
import { InvalidArgumentError, Option } from 'commander';

/** A positive integer, or `auto` for one worker per CPU the process may use. */
export function parseWorkers(value: string): number {
  if (value === 'auto') return availableParallelism();
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n < 1) throw new InvalidArgumentError(`"${value}" is not a worker count (a positive integer, or auto)`);
  return n;
}

export function workersOption(): Option {
  return new Option('--workers <n>', 'processes serving this node\'s ports (node:cluster), each with its own watches, caches and pools; "auto" = one per CPU')
    .env('MESHGATE_WORKERS')
    .argParser(parseWorkers)
    .default(1);
}
