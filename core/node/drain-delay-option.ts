// `--drain-delay <duration>` for the data-plane nodes: after SIGTERM, how long a node keeps accepting and serving,
// /readyz already 503, before it closes its listeners (NodeRuntime.drain), so whatever routes to it (load
// balancers, kube-proxy, peers' endpoint sets) stops sending first and no new connection is refused.
import { InvalidArgumentError, Option } from 'commander';
import { MAX_TIMER_MS, parseDuration } from '../config/duration.js';

/** The default delay: the time an etcd watch or kube-proxy usually takes to drop an endpoint. */
export const DEFAULT_DRAIN_DELAY_MS = 1_000;

export function parseDrainDelay(value: string): number {
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch {
    throw new InvalidArgumentError(`"${value}" is not a duration (e.g. 0s, 500ms, 5s)`);
  }
  if (ms > MAX_TIMER_MS) throw new InvalidArgumentError(`"${value}" is longer than a timer holds (${MAX_TIMER_MS} ms)`);
  return ms;
}

export function drainDelayOption(): Option {
  return new Option('--drain-delay <duration>', 'after SIGTERM, keep accepting this long with /readyz at 503 before closing the listeners, so load balancers stop sending first; 0s closes at once')
    .env('MESHGATE_DRAIN_DELAY')
    .argParser(parseDrainDelay)
    .default(DEFAULT_DRAIN_DELAY_MS, '1s');
}
