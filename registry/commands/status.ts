// `meshgate status [--wait VERSION --timeout S]`: every live node with the version it serves, applied-at and lag;
// with --wait, exit 0 once the whole fleet serves VERSION (or newer), 1 at the timeout.
import { Command, Option, InvalidArgumentError } from 'commander';
import { envOption } from '../../core/config/cli-options.js';
import { MAX_TIMER_MS } from '../../core/config/duration.js';
import { NODES_PREFIX, type NodeRecord } from '../../core/config/config-watch.js';
import type { Store } from '../../core/store/store.js';
import { formatRollout, liveView, parseNodes, rollout, type Rollout } from '../node-status.js';
import { readLive } from '../publish.js';
import { addStoreOptions, fail, withStore, type StoreFlags } from './store-options.js';
import { UsageError } from '../../core/config/usage-error.js';
import { CommandFailure } from '../../core/node/command-failure.js';

interface StatusFlags extends StoreFlags {
  wait?: number | 'live';
  timeout: number;
  registry?: string;
  json?: boolean;
}

function parseWait(value: string): number | 'live' {
  if (value === 'live') return 'live';
  if (!/^[0-9]+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError(`"${value}" is not a version number (or "live")`);
  return Number(value);
}

/** The longest wait a timer can hold (2^31 - 1 ms, about 24.8 days); node fires a longer one at once. */
const MAX_TIMEOUT_SECONDS = Math.floor(MAX_TIMER_MS / 1000);

function parseSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`"${value}" is not a positive number of seconds`);
  if (n > MAX_TIMEOUT_SECONDS) throw new InvalidArgumentError(`"${value}" is more than ${MAX_TIMEOUT_SECONDS} seconds (about 24 days)`);
  return n;
}

function print(r: Rollout, json: boolean | undefined): void {
  process.stdout.write(json ? `${JSON.stringify(r)}\n` : `${formatRollout(r).join('\n')}\n`);
}

function behindLine(r: Rollout): string {
  const behind = r.behind.map((n) => `${n.id} (${n.version === undefined ? 'no snapshot' : `version ${n.version}`})`);
  return r.nodes.length === 0 ? 'no live nodes' : `${r.serving}/${r.nodes.length} node(s) serve version ${r.target}; behind: ${behind.join(', ')}`;
}

/** Wait on the store: re-evaluate on every nodes/ event, no polling. */
async function waitOnStore(store: Store, flags: StatusFlags): Promise<void> {
  const live = liveView((await readLive(store)).text);
  if (flags.wait === 'live' && live?.refused !== undefined)
    return fail('status', `the live snapshot is refused by the nodes (${live.refused}), so no node will serve it`);
  const target = flags.wait === 'live' ? live?.version : (flags.wait as number);
  if (target === undefined) return fail('status', 'no snapshot is live, so there is no version to wait for');
  const nodes = new Map<string, string>();
  const evaluate = () => rollout(parseNodes(nodes), live, target);
  let done!: (r: Rollout) => void;
  const completed = new Promise<Rollout>((resolve) => (done = resolve));
  const watcher = await store.watch(NODES_PREFIX, (event) => {
    if (event.type === 'reset') nodes.clear();
    else if (event.type === 'put') nodes.set(event.key, event.value);
    else nodes.delete(event.key);
    if (event.type !== 'reset') {
      const r = evaluate();
      if (r.complete) done(r);
    }
  });
  let timer: NodeJS.Timeout | undefined;
  const first = evaluate();
  const result = first.complete
    ? first
    : await Promise.race([completed, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), flags.timeout * 1000)))]);
  clearTimeout(timer);
  await watcher.close();
  report(result ?? evaluate(), flags, result !== undefined);
}

async function fetchRollout(registry: string, target?: number | 'live'): Promise<Rollout> {
  const url = new URL('/v1/rollout', registry);
  if (typeof target === 'number') url.searchParams.set('version', String(target));
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  } catch (err) {
    const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
    throw new CommandFailure(`status: cannot reach the registry at ${registry}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  if (!res.ok) throw new CommandFailure(`status: the registry at ${registry} answered ${res.status} to ${url.pathname}`);
  try {
    return (await res.json()) as Rollout;
  } catch {
    throw new CommandFailure(`status: the registry at ${registry} answered something that is not JSON (is it a meshgate registry?)`);
  }
}

/** Wait through the registry's read API: it holds the same watch, so a short poll of it is cheap. */
async function waitOnRegistry(flags: StatusFlags): Promise<void> {
  const deadline = Date.now() + flags.timeout * 1000;
  let r = await fetchRollout(flags.registry!, flags.wait);
  while (!r.complete && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    r = await fetchRollout(flags.registry!, flags.wait);
  }
  report(r, flags, r.complete);
}

function report(r: Rollout, flags: StatusFlags, complete: boolean): void {
  print(r, flags.json);
  if (complete) {
    if (!flags.json) process.stdout.write(`version ${r.target} is served by all ${r.nodes.length} node(s)\n`);
  } else fail('status', `timed out after ${flags.timeout}s: ${behindLine(r)}`);
}

export function statusCommand(): Command {
  return addStoreOptions(
    new Command('status')
      .description('show every live node and the version it serves; --wait VERSION exits 0 once all serve it')
      .addOption(new Option('--wait <version>', 'wait until every live node serves this version or newer ("live" = the live one)').argParser(parseWait))
      .addOption(new Option('--timeout <seconds>', 'give up waiting after this long (exit 1)').argParser(parseSeconds).default(30))
      .addOption(envOption('--registry <url>', 'MESHGATE_REGISTRY', 'read through the registry service instead of etcd (http://host:7090)'))
      .option('--json', 'print the rollout as JSON'),
  ).action(async (flags: StatusFlags) => {
    if (flags.registry) {
      try {
        new URL(flags.registry);
      } catch {
        throw new UsageError(`--registry "${flags.registry}" is not a URL`);
      }
      if (flags.wait !== undefined) return waitOnRegistry(flags);
      return print(await fetchRollout(flags.registry), flags.json);
    }
    await withStore('status', flags, async (store) => {
      if (flags.wait !== undefined) return waitOnStore(store, flags);
      const [live, nodes] = await Promise.all([readLive(store), store.getPrefix(NODES_PREFIX)]);
      const list: NodeRecord[] = parseNodes(nodes);
      print(rollout(list, liveView(live.text)), flags.json);
    });
  });
}
