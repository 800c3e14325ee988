// forward phase (sidecar inbound): the local app, over a keep-alive pool, with the remaining deadline.
import type { StageDef } from '../../core/pipeline/stage.js';
import { forwardStage } from '../../core/stages/forward.js';
import type { Upstream } from '../../core/upstream/upstream.js';

export interface LocalAppDeps {
  tier: string;
  /** The layered upstream to the local app (address fixed). */
  appUpstream: Upstream;
}

export const forwardLocalApp: StageDef<LocalAppDeps> = {
  name: 'forward-local-app',
  phase: 'forward',
  build({ deps }) {
    return forwardStage('forward-local-app', deps.appUpstream);
  },
};
