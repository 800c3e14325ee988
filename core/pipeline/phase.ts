// The fixed phase list. A stage declares its phase; the engine orders by it, so no config can move auth.
//
//   accept → normalize → trace → route → authenticate → authorize → quota
//          → transformRequest → forward → transformResponse → log
//
// Phases up to `route` run once per listener (the route is not known yet); the rest run per route,
// from a chain compiled once per config snapshot. `forward` holds exactly one terminal stage.
export const PHASES = [
  'accept',
  'normalize',
  'trace',
  'route',
  'authenticate',
  'authorize',
  'quota',
  'transformRequest',
  'forward',
  'transformResponse',
  'log',
] as const;

export type Phase = (typeof PHASES)[number];

export const PHASE_INDEX: Record<Phase, number> = Object.fromEntries(PHASES.map((p, i) => [p, i])) as Record<Phase, number>;

/** True for phases that run before a route is known. */
export function isPreRoute(phase: Phase): boolean {
  return PHASE_INDEX[phase] <= PHASE_INDEX.route;
}
