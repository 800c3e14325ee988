// forward phase (edge, sidecar outbound): send the request to one of the target service's sidecars.
import type { StageDef } from '../pipeline/stage.js';
import { forwardStage } from './forward.js';
import type { Upstream } from '../upstream/upstream.js';

export const forwardToService: StageDef<{ tier: string; upstream: Upstream }> = {
  name: 'forward-to-service',
  phase: 'forward',
  build({ deps }) {
    return forwardStage('forward-to-service', deps.upstream);
  },
};
