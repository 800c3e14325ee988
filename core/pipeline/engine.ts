// The engine: orders stages by phase (never by list position), compiles one chain per route per snapshot,
// and runs a chain synchronously until a stage needs I/O.
import { MeshError } from '../errors.js';
import type { CompiledSnapshot } from '../config/compile.js';
import type { SnapshotHolder } from '../config/snapshot.js';
import type { Logger } from '../telemetry/log.js';
import type { Exchange } from './exchange.js';
import { PHASE_INDEX, isPreRoute } from './phase.js';
import type { Stage, StageDef, Verdict } from './stage.js';

export interface RouteChain {
  /** authenticate … forward, in phase order. */
  request: Stage[];
  /** transformResponse stages, run on the upstream status and headers before they are written. */
  response: Stage[];
}

export interface CompiledChains {
  /** accept … route: once per listener. */
  pre: Stage[];
  routes: Map<string, RouteChain>;
  /** log phase: run when the response is finished, whatever happened. */
  log: Stage[];
}

/** Stable sort by phase: within a phase the tier file's order decides. */
export function orderByPhase<D>(defs: readonly StageDef<D>[]): StageDef<D>[] {
  return defs.map((d, i) => ({ d, i })).sort((a, b) => PHASE_INDEX[a.d.phase] - PHASE_INDEX[b.d.phase] || a.i - b.i).map(({ d }) => d);
}

export class Engine<D> {
  private readonly ordered: StageDef<D>[];
  private readonly compiled = new WeakMap<CompiledSnapshot, CompiledChains>();

  constructor(
    readonly tier: string,
    defs: readonly StageDef<D>[],
    private readonly deps: D,
    private readonly log: Logger,
  ) {
    this.ordered = orderByPhase(defs);
    const forwards = this.ordered.filter((d) => d.phase === 'forward');
    if (forwards.length !== 1) throw new Error(`${tier}: exactly one forward stage is required, found ${forwards.length}`);
  }

  /** Compile now (at swap time, off the request path) and log the chain once. */
  attach(holder: SnapshotHolder): void {
    const compile = (s: CompiledSnapshot) => {
      const chains = this.chainsFor(s);
      const sample = chains.routes.values().next().value as RouteChain | undefined;
      this.log.info(
        {
          version: s.version,
          pre: chains.pre.map((x) => x.name),
          route: sample?.request.map((x) => x.name),
          response: sample?.response.map((x) => x.name),
          log: chains.log.map((x) => x.name),
        },
        'chain compiled',
      );
    };
    holder.onSwap(compile);
    if (holder.current) compile(holder.current);
  }

  chainsFor(snapshot: CompiledSnapshot): CompiledChains {
    let chains = this.compiled.get(snapshot);
    if (chains) return chains;
    const build = (def: StageDef<D>, route: CompiledSnapshot['routes'][number] | undefined) =>
      def.build({ route, snapshot, deps: this.deps });
    const pre: Stage[] = [];
    const log: Stage[] = [];
    for (const def of this.ordered) {
      if (isPreRoute(def.phase)) push(pre, build(def, undefined));
      else if (def.phase === 'log') push(log, build(def, undefined));
    }
    const routes = new Map<string, RouteChain>();
    for (const route of snapshot.routes) {
      const chain: RouteChain = { request: [], response: [] };
      for (const def of this.ordered) {
        if (isPreRoute(def.phase) || def.phase === 'log') continue;
        const stage = build(def, route);
        if (!stage) continue;
        if (stage.request) chain.request.push(stage);
        if (stage.response) chain.response.push(stage);
      }
      routes.set(route.name, chain);
    }
    this.compiled.set(snapshot, (chains = { pre, routes, log }));
    return chains;
  }
}

function push(list: Stage[], stage: Stage | undefined): void {
  if (stage) list.push(stage);
}

function isPromise(v: unknown): v is Promise<Verdict> {
  return typeof (v as Promise<Verdict> | undefined)?.then === 'function';
}

/** Run stages from `start`; stays synchronous until a stage returns a promise. */
export function runChain(stages: Stage[], x: Exchange, start = 0): Verdict | Promise<Verdict> {
  for (let i = start; i < stages.length; i++) {
    const verdict = stages[i].request!(x);
    if (verdict === undefined) continue;
    if (isPromise(verdict)) return verdict.then((v) => (v === undefined ? runChain(stages, x, i + 1) : v));
    return verdict;
  }
  return undefined;
}

export function isMeshError(v: Verdict): v is MeshError {
  return v instanceof MeshError;
}
