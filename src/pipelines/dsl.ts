import { createHash } from 'node:crypto';
import { callerFile } from './cache/code-hash.js';
import { PipelineDefinitionError } from './errors.js';
import { materializerOptionProblem, unwrapStepResult, type StepMaterializerOption } from './materializers/output-options.js';

/** A JSON value: what step and pipeline parameters may hold (recorded, and part of the cache key). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type Params = Record<string, JsonValue>;

const HANDLE = Symbol.for('flywheel.stepOutput');

/**
 * A placeholder for a value a step will produce. Inside a pipeline function a step call returns these
 * instead of running; passing one as another step's input is an edge of the DAG. `T` is checked at
 * compile time: a step expecting `{ data: number[] }` does not accept a `StepOutput<string>`.
 */
export interface StepOutput<T> {
  readonly [HANDLE]: true;
  /** The (unique) name of the producing step in the built graph. */
  readonly step: string;
  /** The output name: 'output' for a single-output step, else one of the step's `outputs`. */
  readonly output: string;
  /** Type-level only; never set. */
  readonly __type?: T;
}

export function isStepOutput(v: unknown): v is StepOutput<unknown> {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[HANDLE] === true;
}

/** The single output of a step without `outputs`. */
export const DEFAULT_OUTPUT = 'output';

export interface StepContext<P extends Params = Params> {
  /** The step's name in the graph (with pipeline prefixes and suffixes). */
  readonly stepName: string;
  /** Resolved parameters: step defaults < call site < config file. */
  readonly params: P;
  /** Aborted on timeout, on cancellation (Ctrl-C) and when the run is abandoned. */
  readonly signal: AbortSignal;
  /** 1 on the first attempt. */
  readonly attempt: number;
  readonly pipelineRunId: string;
  readonly stepRunId: string;
  /** The step's nested tracking run, when the orchestrator records to a store. */
  readonly trackingRunId: string | null;
  /** Appends a line to the step run's recorded logs. */
  log(...args: unknown[]): void;
  /** Logs a metric to the step's tracking run (a no-op without a store). */
  logMetric(key: string, value: number, step?: number): Promise<void>;
}

export interface StepHookInfo {
  stepName: string;
  stepRunId: string;
  pipelineRunId: string;
  attempts: number;
}

export interface StepOptions<P extends Params, O> {
  /** Parameter defaults (JSON values). Overridable at the call site and from the config file. */
  params?: P;
  /** Extra attempts after the first failure (default 0). */
  retries?: number;
  /** Backoff before retry n (1-based) is `retryBackoffMs * 2^(n-1)` (default 100). */
  retryBackoffMs?: number;
  /** Per attempt; the attempt fails with a StepTimeoutError and `ctx.signal` is aborted. */
  timeoutMs?: number;
  /** Whether the cache may serve this step (default true). With `false` the step always runs. */
  cache?: boolean;
  /** Environment variables the step depends on: part of its cache key (values recorded only as hashes). */
  env?: readonly string[];
  onSuccess?: (info: StepHookInfo, output: O) => void | Promise<void>;
  onFailure?: (info: StepHookInfo, error: Error) => void | Promise<void>;
  /**
   * How outputs are stored, overriding the automatic choice: a registered materializer's name (`'json'`,
   * `'string'`, `'bytes'`, `'arrow-table'`, `'file'`, `'directory'`, `'model'`, a custom one) or a
   * `Materializer`; for named outputs also `{ output: choice }`. A value it cannot handle fails the step.
   */
  materializer?: StepMaterializerOption;
}

/** Per call inside a pipeline function. */
export interface StepCallOptions<P extends Params> {
  /** Overrides of the step's parameter defaults. */
  params?: Partial<P>;
  /** The node's name (default: the step's name, suffixed `_2`, `_3`… when called again). */
  name?: string;
  /** Run after these steps without taking their data: handles, or step names in the current pipeline. */
  after?: ReadonlyArray<StepOutput<unknown> | string>;
}

/** What a step call accepts for its inputs: a handle of the right type per input. */
export type StepInputs<I> = { [K in keyof I]: StepOutput<I[K]> };

export type StepFn<I, R, P extends Params> = {} extends I
  ? ((inputs?: StepInputs<I>, call?: StepCallOptions<P>) => R) & { readonly definition: StepDefinition }
  : ((inputs: StepInputs<I>, call?: StepCallOptions<P>) => R) & { readonly definition: StepDefinition };

export interface StepDefinition {
  readonly name: string;
  readonly fn: (inputs: any, ctx: StepContext<any>) => unknown;
  /** Named outputs, or null for a single output ('output'). */
  readonly outputs: readonly string[] | null;
  readonly options: StepOptions<Params, any>;
  /** sha256 of the function's source text. */
  readonly codeHash: string;
  /** The file that defined the step (from the call stack), whose local module graph is in the cache key. */
  readonly sourceFile: string | null;
}

/**
 * Defines a step. Called inside a `pipeline` function it records a node and returns output handles;
 * called anywhere else it throws. With `outputs: ['a', 'b']` the function returns `{ a, b }` and the call
 * returns one handle per name.
 */
export function step<I extends object = {}, O = unknown, P extends Params = {}>(
  name: string,
  fn: (inputs: I, ctx: StepContext<P>) => O | Promise<O>,
  options?: StepOptions<P, O> & { outputs?: undefined },
): StepFn<I, StepOutput<O>, P>;
export function step<I extends object, O extends Record<K, unknown>, const K extends string, P extends Params = {}>(
  name: string,
  fn: (inputs: I, ctx: StepContext<P>) => O | Promise<O>,
  options: StepOptions<P, O> & { outputs: readonly K[] },
): StepFn<I, { [N in K]: StepOutput<O[N]> }, P>;
export function step(
  name: string,
  fn: (inputs: any, ctx: StepContext<any>) => unknown,
  options: StepOptions<Params, unknown> & { outputs?: readonly string[] } = {},
): StepFn<any, any, any> {
  validateName(name, 'step');
  const outputs = options.outputs ? [...options.outputs] : null;
  if (outputs) {
    if (outputs.length === 0) throw new PipelineDefinitionError(`step '${name}': outputs must not be empty`);
    for (const o of outputs) validateName(o, `output of step '${name}'`);
    if (new Set(outputs).size !== outputs.length) throw new PipelineDefinitionError(`step '${name}': duplicate output names`);
  }
  for (const [k, n] of [['retries', options.retries], ['retryBackoffMs', options.retryBackoffMs], ['timeoutMs', options.timeoutMs]] as const) {
    if (n !== undefined && !(Number.isInteger(n) && n >= 0)) throw new PipelineDefinitionError(`step '${name}': ${k} must be a non-negative integer`);
  }
  if (options.params) assertJson(options.params, `step '${name}' params`);
  if (options.env !== undefined && !(Array.isArray(options.env) && options.env.every((e) => typeof e === 'string' && e !== ''))) {
    throw new PipelineDefinitionError(`step '${name}': env must be an array of variable names`);
  }
  const materializerProblem = materializerOptionProblem(options.materializer, outputs ?? [DEFAULT_OUTPUT]);
  if (materializerProblem) throw new PipelineDefinitionError(`step '${name}': ${materializerProblem}`);
  const definition: StepDefinition = {
    name,
    // Unwraps withVisualizations()/artifactValue() results and hands the materializer choice to the output store.
    fn: async (inputs: any, ctx: StepContext<any>) =>
      unwrapStepResult(await fn(inputs, ctx), outputs, DEFAULT_OUTPUT, options.materializer, ctx?.stepRunId),
    outputs,
    options: { ...options },
    codeHash: createHash('sha256').update(fn.toString()).digest('hex'),
    sourceFile: callerFile() ?? null,
  };
  const call = (inputs: Record<string, unknown> = {}, callOptions: StepCallOptions<Params> = {}) =>
    currentBuilder('step', name).addStep(definition, inputs, callOptions);
  return Object.assign(call, { definition });
}

// ---------------------------------------------------------------------------------------------------
// Graph

export interface InputRef {
  step: string;
  output: string;
}

export interface StepNode {
  /** Unique within the graph: pipeline prefixes (`sub.`) and repeat suffixes (`_2`). */
  name: string;
  definition: StepDefinition;
  inputs: Record<string, InputRef>;
  /** Steps this one runs after without data. */
  after: string[];
  /** Step defaults < call-site overrides (config overrides come at run time). */
  params: Params;
}

export interface PipelineGraph {
  name: string;
  params: Params;
  /** In definition order. */
  nodes: StepNode[];
  /** What the pipeline function returned (handles), if anything. */
  returned: unknown;
}

export interface PipelineOptions<P extends Params> {
  /** Parameter defaults; a run may override only these keys. */
  params?: P;
}

export type Pipeline<P extends Params, R> = ((params?: Partial<P>) => R) & {
  readonly pipelineName: string;
  readonly defaults: P;
  /** Builds (and validates) the DAG; throws PipelineDefinitionError on a cycle or a bad reference. */
  build(params?: Partial<P> | Params): PipelineGraph;
};

/**
 * Defines a pipeline. The function is called (synchronously) at build time with the resolved parameters;
 * the steps it calls become the DAG. Called inside another pipeline, its steps are inlined with names
 * prefixed `<pipeline name>.` and it returns what its function returns.
 */
export function pipeline<P extends Params = {}, R = void>(
  name: string,
  fn: (params: P) => R,
  options: PipelineOptions<P> = {},
): Pipeline<P, R> {
  validateName(name, 'pipeline');
  const defaults = (options.params ?? {}) as P;
  assertJson(defaults, `pipeline '${name}' params`);
  const resolve = (overrides: Params | undefined): P => {
    const p: Params = { ...defaults };
    for (const [k, v] of Object.entries(overrides ?? {})) {
      if (v === undefined) continue;
      if (!(k in defaults)) {
        throw new PipelineDefinitionError(
          `pipeline '${name}' has no parameter '${k}' (known: ${Object.keys(defaults).join(', ') || 'none'})`,
        );
      }
      assertJson(v, `pipeline '${name}' parameter '${k}'`);
      p[k] = v;
    }
    return p as P;
  };
  const inline = (params?: Partial<P>): R => {
    const builder = currentBuilder('pipeline', name);
    builder.prefixes.push(builder.uniquePrefix(name));
    try {
      return fn(resolve(params as Params));
    } finally {
      builder.prefixes.pop();
    }
  };
  const build = (params?: Params): PipelineGraph => {
    const resolved = resolve(params);
    const builder = new GraphBuilder();
    const previous = activeBuilder;
    activeBuilder = builder;
    let returned: unknown;
    try {
      returned = fn(resolved);
    } finally {
      activeBuilder = previous;
    }
    if (returned instanceof Promise) {
      throw new PipelineDefinitionError(`pipeline '${name}': the pipeline function must be synchronous (it only wires steps)`);
    }
    const graph: PipelineGraph = { name, params: resolved, nodes: builder.finish(), returned };
    topologicalOrder(graph);
    return graph;
  };
  return Object.assign(inline, { pipelineName: name, defaults, build });
}

let activeBuilder: GraphBuilder | null = null;

function currentBuilder(kind: 'step' | 'pipeline', name: string): GraphBuilder {
  if (!activeBuilder) {
    throw new PipelineDefinitionError(
      `${kind} '${name}' was called outside a pipeline function; define a pipeline(...) and run it with an orchestrator`,
    );
  }
  return activeBuilder;
}

class GraphBuilder {
  readonly nodes = new Map<string, StepNode>();
  readonly prefixes: string[] = [];
  readonly #pendingAfter: { node: StepNode; name: string; prefix: string }[] = [];
  readonly #usedPrefixes = new Set<string>();
  readonly #handles = new WeakSet<object>();

  private prefix(): string {
    return this.prefixes.join('');
  }

  uniquePrefix(pipelineName: string): string {
    const base = `${this.prefix()}${pipelineName}`;
    let p = base;
    for (let i = 2; this.#usedPrefixes.has(p); i++) p = `${base}_${i}`;
    this.#usedPrefixes.add(p);
    return `${p.slice(this.prefix().length)}.`;
  }

  addStep(def: StepDefinition, inputs: Record<string, unknown>, call: StepCallOptions<Params>): unknown {
    if (call.name !== undefined) validateName(call.name, 'step call name');
    const base = `${this.prefix()}${call.name ?? def.name}`;
    let name = base;
    if (call.name !== undefined && this.nodes.has(name)) {
      throw new PipelineDefinitionError(`duplicate step name '${name}' (given explicitly with { name })`);
    }
    for (let i = 2; this.nodes.has(name); i++) name = `${base}_${i}`;

    if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) {
      throw new PipelineDefinitionError(`step '${name}': inputs must be an object of step outputs`);
    }
    const refs: Record<string, InputRef> = {};
    for (const [key, value] of Object.entries(inputs)) {
      if (!isStepOutput(value)) {
        throw new PipelineDefinitionError(
          `step '${name}': input '${key}' is not a step output (got ${describe(value)}); pass constants as params`,
        );
      }
      if (!this.#handles.has(value)) {
        throw new PipelineDefinitionError(`step '${name}': input '${key}' is a step output from another pipeline build`);
      }
      refs[key] = { step: value.step, output: value.output };
    }
    const params: Params = { ...(def.options.params ?? {}) };
    for (const [k, v] of Object.entries(call.params ?? {})) {
      if (v === undefined) continue;
      assertJson(v, `step '${name}' parameter '${k}'`);
      params[k] = v;
    }
    const node: StepNode = { name, definition: def, inputs: refs, after: [], params };
    for (const a of call.after ?? []) {
      if (typeof a === 'string') this.#pendingAfter.push({ node, name: a, prefix: this.prefix() });
      else if (isStepOutput(a) && this.#handles.has(a)) node.after.push(a.step);
      else throw new PipelineDefinitionError(`step '${name}': 'after' takes step outputs or step names, got ${describe(a)}`);
    }
    this.nodes.set(name, node);

    const handle = (output: string): StepOutput<unknown> => {
      const h = { [HANDLE]: true as const, step: name, output };
      this.#handles.add(h);
      return Object.freeze(h);
    };
    if (!def.outputs) return handle(DEFAULT_OUTPUT);
    return Object.fromEntries(def.outputs.map((o) => [o, handle(o)]));
  }

  finish(): StepNode[] {
    for (const { node, name, prefix } of this.#pendingAfter) {
      const target = this.nodes.has(prefix + name) ? prefix + name : this.nodes.has(name) ? name : null;
      if (!target) throw new PipelineDefinitionError(`step '${node.name}': 'after' names unknown step '${name}'`);
      node.after.push(target);
    }
    return [...this.nodes.values()];
  }
}

/** Upstream step names of a node (data and ordering edges), deduplicated. */
export function upstreamOf(node: StepNode): string[] {
  return [...new Set([...Object.values(node.inputs).map((r) => r.step), ...node.after])];
}

/**
 * The nodes in an order where each comes after its upstream steps; throws PipelineDefinitionError naming
 * the cycle (`a -> b -> a`) if there is one, or a reference to an unknown step or output.
 */
export function topologicalOrder(graph: PipelineGraph): StepNode[] {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  for (const n of graph.nodes) {
    for (const [key, ref] of Object.entries(n.inputs)) {
      const up = byName.get(ref.step);
      if (!up) throw new PipelineDefinitionError(`step '${n.name}': input '${key}' refers to unknown step '${ref.step}'`);
      const outs = up.definition.outputs ?? [DEFAULT_OUTPUT];
      if (!outs.includes(ref.output)) {
        throw new PipelineDefinitionError(`step '${n.name}': input '${key}' refers to unknown output '${ref.output}' of step '${ref.step}'`);
      }
    }
    for (const a of n.after) if (!byName.has(a)) throw new PipelineDefinitionError(`step '${n.name}': 'after' names unknown step '${a}'`);
  }
  const state = new Map<string, 'visiting' | 'done'>();
  const order: StepNode[] = [];
  const stack: string[] = [];
  const visit = (n: StepNode): void => {
    const s = state.get(n.name);
    if (s === 'done') return;
    if (s === 'visiting') {
      const cycle = [...stack.slice(stack.indexOf(n.name)), n.name];
      throw new PipelineDefinitionError(`pipeline '${graph.name}' has a cycle: ${cycle.join(' -> ')}`);
    }
    state.set(n.name, 'visiting');
    stack.push(n.name);
    for (const u of upstreamOf(n)) visit(byName.get(u)!);
    stack.pop();
    state.set(n.name, 'done');
    order.push(n);
  };
  for (const n of graph.nodes) visit(n);
  return order;
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_\-]*$/;

function validateName(name: string, what: string): void {
  if (typeof name !== 'string' || !NAME.test(name) || name.length > 200) {
    throw new PipelineDefinitionError(`invalid ${what} name '${String(name)}': use letters, digits, '_' and '-' (no '.')`);
  }
}

export function assertJson(value: unknown, what: string): void {
  const check = (v: unknown, path: string): void => {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new PipelineDefinitionError(`${what}: ${path || 'value'} is not a finite number`);
      return;
    }
    if (Array.isArray(v)) return v.forEach((x, i) => check(x, `${path}[${i}]`));
    if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      for (const [k, x] of Object.entries(v as object)) check(x, path ? `${path}.${k}` : k);
      return;
    }
    throw new PipelineDefinitionError(`${what}: ${path || 'value'} is not a JSON value (got ${describe(v)})`);
  };
  check(value, '');
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v;
}
