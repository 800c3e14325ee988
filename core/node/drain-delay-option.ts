// `--drain-delay <duration>` for the data-plane nodes: after SIGTERM, how long a node keeps accepting and serving,
// /readyz already 503, before it closes its listeners (NodeRuntime.drain), so whatever routes to it (load
// balancers, kube-proxy, peers' endpoint sets) stops sending first and no new connection is refused.
import type { Option } from 'commander';
import { durationOption } from '../config/cli-options.js';

/** The default delay: the time an etcd watch or kube-proxy usually takes to drop an endpoint. */
export const DEFAULT_DRAIN_DELAY_MS = 1_000;

export function drainDelayOption(): Option {
  return durationOption(
    '--drain-delay <duration>',
    'MESHGATE_DRAIN_DELAY',
    DEFAULT_DRAIN_DELAY_MS,
    '1s',
    'after SIGTERM, keep accepting this long with /readyz at 503 before closing the listeners, so load balancers stop sending first; 0s closes at once',
  );
}
