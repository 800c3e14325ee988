// transformResponse phase: the route's ResponseHeaderModifier on what the app answered.
import type { StageDef } from '../../core/pipeline/stage.js';

export const responseTransform: StageDef<unknown> = {
  name: 'response-transform',
  phase: 'transformResponse',
  build({ route }) {
    const ops = route!.responseHeaders;
    if (!ops) return undefined;
    return {
      name: 'response-transform',
      response(x) {
        const h = x.upstreamResponseHeaders;
        for (const name of ops.remove) delete h[name];
        for (const [name, value] of ops.set) h[name] = value;
        for (const [name, value] of ops.add) {
          const existing = h[name];
          h[name] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
        }
      },
    };
  },
};
