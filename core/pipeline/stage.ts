// What a stage is: a name, a phase, and a factory that does its validate-once work and returns the per-request part.
import type { MeshError } from '../errors.js';
import type { CompiledRoute, CompiledSnapshot } from '../config/compile.js';
import type { Exchange } from './exchange.js';
import type { Phase } from './phase.js';

/** A reply a stage sends itself (e.g. a CORS preflight); the chain stops there. */
export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** undefined = continue with the next stage. */
export type Verdict = undefined | MeshError | Reply;

export interface Stage {
  readonly name: string;
  /** Request direction; synchronous unless it needs I/O, so a cached path allocates no promise. */
  request?(x: Exchange): Verdict | Promise<Verdict>;
  /** Response direction: runs on the upstream's status and headers before they are written. */
  response?(x: Exchange): void;
}

export interface BuildContext<D> {
  /** The route this chain serves; undefined for the pre-route stages built once per listener. */
  route: CompiledRoute | undefined;
  snapshot: CompiledSnapshot;
  deps: D;
}

export interface StageDef<D> {
  /** Equals the file name; used as log field and metric label. */
  readonly name: string;
  readonly phase: Phase;
  /** Validate-once work (keys, caches, compiled matchers). Return undefined when the route does not need it. */
  build(context: BuildContext<D>): Stage | undefined;
}
