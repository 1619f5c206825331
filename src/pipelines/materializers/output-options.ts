import { invalidParameter } from '../../core/errors.js';
import type { Materializer } from './types.js';
import type { VisualizationInput } from './visualizations.js';

/** A registered materializer's name (`json`, `string`, `bytes`, `arrow-table`, `file`, ...) or a materializer. */
export type MaterializerChoice = string | Materializer<any>;

/** How one output (or one saved artifact) is stored, beyond its value. */
export interface ArtifactValueOptions {
  /** Overrides the automatic choice; a value it cannot handle fails naming it. */
  materializer?: MaterializerChoice;
  /** Shown beside the artifact, after the materializer's own. */
  visualizations?: VisualizationInput[];
}

const ENVELOPE = Symbol.for('flywheel.artifactValue');

interface Envelope {
  readonly [ENVELOPE]: true;
  readonly value: unknown;
  readonly options: ArtifactValueOptions;
}

function isEnvelope(v: unknown): v is Envelope {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[ENVELOPE] === true;
}

/**
 * Returned from a step (as its output, or as one of its named outputs): stores `value` with these
 * visualizations (and optionally a materializer). The step's consumers get `value` itself; the type is
 * `value`'s, so typed pipelines stay typed.
 *
 * ```ts
 * step('plot', () => withVisualizations(rows, [{ kind: 'image', mimeType: 'image/png', data: png }]));
 * ```
 */
export function withVisualizations<T>(value: T, visualizations: VisualizationInput[]): T {
  return artifactValue(value, { visualizations });
}

/** Like `withVisualizations`, with any `ArtifactValueOptions` (e.g. a materializer chosen at run time). */
export function artifactValue<T>(value: T, options: ArtifactValueOptions): T {
  const inner = isEnvelope(value) ? value : undefined;
  const envelope: Envelope = {
    [ENVELOPE]: true,
    value: inner ? inner.value : value,
    options: inner ? mergeOptions(inner.options, options) : options,
  };
  return envelope as unknown as T;
}

function mergeOptions(a: ArtifactValueOptions | undefined, b: ArtifactValueOptions | undefined): ArtifactValueOptions {
  return {
    ...((b?.materializer ?? a?.materializer) !== undefined ? { materializer: b?.materializer ?? a?.materializer } : {}),
    ...(a?.visualizations || b?.visualizations ? { visualizations: [...(a?.visualizations ?? []), ...(b?.visualizations ?? [])] } : {}),
  };
}

/** A step's `materializer` option: one choice for every output, or one per named output. */
export type StepMaterializerOption = MaterializerChoice | Readonly<Record<string, MaterializerChoice>>;

const isMaterializerObject = (v: unknown): v is Materializer<any> =>
  typeof v === 'object' && v !== null && typeof (v as Materializer).save === 'function' && typeof (v as Materializer).canHandle === 'function';

/** The choice for `output` from a step's `materializer` option. */
function choiceFor(option: StepMaterializerOption | undefined, output: string): MaterializerChoice | undefined {
  if (option === undefined || typeof option === 'string' || isMaterializerObject(option)) return option;
  return (option as Record<string, MaterializerChoice>)[output];
}

/** Checks a step's `materializer` option when the step is defined; returns the problem, if any. */
export function materializerOptionProblem(option: unknown, outputs: readonly string[]): string | undefined {
  const checkOne = (c: unknown, where: string): string | undefined => {
    if (typeof c === 'string') return c.trim() === '' ? `${where} must not be empty` : undefined;
    if (isMaterializerObject(c)) return undefined;
    return `${where} must be a materializer name or a Materializer`;
  };
  if (option === undefined) return undefined;
  if (typeof option === 'string' || isMaterializerObject(option)) return checkOne(option, 'materializer');
  if (typeof option !== 'object' || option === null || Array.isArray(option)) return 'materializer must be a name, a Materializer or { output: name }';
  for (const [k, c] of Object.entries(option)) {
    if (!outputs.includes(k)) return `materializer names unknown output '${k}' (outputs: ${outputs.join(', ')})`;
    const p = checkOne(c, `materializer.${k}`);
    if (p) return p;
  }
  return undefined;
}

// Options travel from the step function (which knows its step's options) to the output store (which saves)
// beside the value, keyed by step run and output, so every output store and hook still sees the plain value.
// On globalThis, so two copies of this module (a pipeline file and the CLI loading the library separately)
// still meet.
const PENDING = Symbol.for('flywheel.pendingOutputOptions');
const pending: Map<string, ArtifactValueOptions> = ((globalThis as Record<symbol, unknown>)[PENDING] ??= new Map()) as Map<
  string,
  ArtifactValueOptions
>;
const MAX_PENDING = 10_000;
const key = (stepRunId: string, output: string) => `${stepRunId}\0${output}`;

function remember(stepRunId: string, output: string, options: ArtifactValueOptions): void {
  pending.delete(key(stepRunId, output));
  pending.set(key(stepRunId, output), options);
  // Outputs saved by a store that never asks (the in-memory one) must not pile up.
  while (pending.size > MAX_PENDING) pending.delete(pending.keys().next().value!);
}

/** The options recorded for one output of a step run (and forgets them). */
export function takeOutputOptions(stepRunId: string, output: string): ArtifactValueOptions | undefined {
  const k = key(stepRunId, output);
  const o = pending.get(k);
  pending.delete(k);
  return o;
}

/**
 * What a step function returned, with `withVisualizations`/`artifactValue` envelopes removed; their options
 * and the step's `materializer` option are recorded for the output store. `outputs` null = single output
 * named `defaultOutput`.
 */
export function unwrapStepResult(
  result: unknown,
  outputs: readonly string[] | null,
  defaultOutput: string,
  option: StepMaterializerOption | undefined,
  stepRunId: string | undefined,
): unknown {
  const handle = (output: string, value: unknown): unknown => {
    const env = isEnvelope(value) ? value : undefined;
    const choice = choiceFor(option, output);
    const options = mergeOptions(choice !== undefined ? { materializer: choice } : undefined, env?.options);
    if (stepRunId && (options.materializer !== undefined || options.visualizations)) remember(stepRunId, output, options);
    return env ? env.value : value;
  };
  if (!outputs) return handle(defaultOutput, result);
  if (isEnvelope(result)) throw invalidParameter('a step with named outputs wraps each output, not the returned object, in withVisualizations()');
  if (typeof result !== 'object' || result === null) return result; // the orchestrator reports the shape error
  const obj = result as Record<string, unknown>;
  const unwrapped = outputs.filter((name) => name in obj).map((name) => [name, handle(name, obj[name])] as const);
  // The object itself goes on (hooks see it) unless an output was wrapped: then a copy with plain values.
  if (unwrapped.every(([name, v]) => v === obj[name])) return result;
  const out: Record<string, unknown> = { ...obj };
  for (const [name, v] of unwrapped) out[name] = v;
  return out;
}
