/**
 * Inference-log records as the server makes them: O(1) on the request path. A record keeps the request's
 * already-checked input (for the fast path, the Float64Array the model ran) and its result by reference;
 * the per-row `inputs` / `outputs` arrays of the `InferenceRecord` contract are built only if someone reads
 * them, and the sinks' serializer (`inferenceRecordJson`) writes the JSON straight from the arrays, without
 * building a row object at all.
 */
import type { InferenceRecord } from './contracts.js';
import type { PreparedInput } from './input.js';
import type { ScoringResult, ServingModel } from './serving-model.js';
import { matrixRowsJson, type RowMatrix } from './row-matrix.js';
import { safeJson, toInferenceLogEntry } from './sql-serving-store.js';

/** What a lazily built record was made from. */
interface RecordSource {
  model: ServingModel;
  input: PreparedInput | undefined;
  result: ScoringResult | undefined;
}

const sources = new WeakMap<InferenceRecord, RecordSource>();

type RecordFields = Omit<InferenceRecord, 'inputs' | 'outputs'>;

/**
 * A record whose `inputs` and `outputs` are computed on first read (then kept). Own enumerable accessors:
 * `JSON.stringify`, spreading and `toEqual` see them as the plain arrays of the contract.
 */
export function lazyInferenceRecord(
  fields: RecordFields, model: ServingModel, input: PreparedInput | undefined, result: ScoringResult | undefined,
): InferenceRecord {
  let inputs: Record<string, unknown>[] | undefined;
  let outputs: unknown[] | undefined;
  const r: InferenceRecord = {
    requestId: fields.requestId,
    timestamp: fields.timestamp,
    modelName: fields.modelName,
    modelVersion: fields.modelVersion,
    modelUri: fields.modelUri,
    deployment: fields.deployment,
    variant: fields.variant,
    protocol: fields.protocol,
    get inputs() {
      return (inputs ??= input ? model.rowInputs(input) : []);
    },
    set inputs(v) {
      inputs = v;
      sources.delete(r);
    },
    get outputs() {
      return (outputs ??= result ? result.rowOutputs() : []);
    },
    set outputs(v) {
      outputs = v;
      sources.delete(r);
    },
    latencyMs: fields.latencyMs,
    status: fields.status,
    ...(fields.error !== undefined ? { error: fields.error } : {}),
  };
  if (input || result) sources.set(r, { model, input, result });
  return r;
}

/** JSON of a value that may be plain: skips the (slow) replacer when no bigint or typed array is inside. */
export function fastJson(value: unknown): string {
  return isPlainJson(value, 0) ? (JSON.stringify(value) ?? 'null') : safeJson(value);
}

function isPlainJson(v: unknown, depth: number): boolean {
  if (v === null || typeof v !== 'object') return typeof v !== 'bigint';
  if (depth > 64) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (!isPlainJson(v[i], depth + 1)) return false;
    return true;
  }
  if (ArrayBuffer.isView(v)) return false;
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return false;
  for (const k in v) if (!isPlainJson((v as Record<string, unknown>)[k], depth + 1)) return false;
  return true;
}

/** Field names of a record on disk (the `InferenceRecord` contract, camelCase) and on the wire (snake_case). */
const KEYS = {
  camel: ['requestId', 'timestamp', 'modelName', 'modelVersion', 'modelUri', 'deployment', 'variant', 'protocol', 'inputs', 'outputs', 'latencyMs', 'status', 'error'],
  snake: ['request_id', 'timestamp', 'model_name', 'model_version', 'model_uri', 'deployment', 'variant', 'protocol', 'inputs', 'outputs', 'latency_ms', 'status', 'error'],
} as const;

const str = (v: string | null) => (typeof v === 'string' ? JSON.stringify(v) : 'null');
const num = (v: number) => (Number.isFinite(v) ? String(v) : 'null');

/**
 * One record as JSON: the same text `safeJson(record)` (camelCase) or `safeJson(toInferenceLogEntry(record))`
 * (snake_case, `error` always present) gives, but a lazily built record's rows are written straight from
 * the model's input matrix and outputs. Throws when the record cannot be written as JSON (a cycle).
 */
export function inferenceRecordJson(r: InferenceRecord, wire: boolean): string {
  const p = inferenceRecordParts(r, wire);
  return 'line' in p ? p.line : p.head + matrixRowsJson(p.matrix) + p.tail;
}

/**
 * A record's JSON in parts, for a serializer elsewhere (the JSONL worker thread): the whole line, or the
 * text around the `inputs` value and the input matrix to write there (`matrixRowsJson`).
 */
export type RecordParts = { line: string } | { head: string; matrix: RowMatrix; tail: string };

export function inferenceRecordParts(r: InferenceRecord, wire: boolean): RecordParts {
  const source = sources.get(r);
  if (!source) return { line: fastJson(wire ? toInferenceLogEntry(r) : r) };
  const k = wire ? KEYS.snake : KEYS.camel;
  const matrix = source.input && source.model.rowInputsMatrix ? source.model.rowInputsMatrix(source.input) : undefined;
  const outputs = source.result?.rowOutputsJson ? source.result.rowOutputsJson() : fastJson(r.outputs);
  const head =
    `{"${k[0]}":${str(r.requestId)},"${k[1]}":${num(r.timestamp)},"${k[2]}":${str(r.modelName)},"${k[3]}":${str(r.modelVersion)},` +
    `"${k[4]}":${str(r.modelUri)},"${k[5]}":${str(r.deployment)},"${k[6]}":${str(r.variant)},"${k[7]}":${str(r.protocol)},"${k[8]}":`;
  let tail = `,"${k[9]}":${outputs},"${k[10]}":${num(r.latencyMs)},"${k[11]}":${num(r.status)}`;
  if (r.error !== undefined) tail += `,"${k[12]}":${JSON.stringify(r.error)}`;
  else if (wire) tail += `,"${k[12]}":null`;
  tail += '}';
  return matrix ? { head, matrix, tail } : { line: head + fastJson(r.inputs) + tail };
}

/** Rows of a record (for the sink's row budget and per-request limits), without building them. */
export function inferenceRecordRows(r: InferenceRecord): number {
  const source = sources.get(r);
  if (source) return Math.max(1, source.input?.rows ?? 0);
  const len = (v: unknown) => (Array.isArray(v) ? v.length : 0);
  try {
    return Math.max(1, len(r.inputs), len(r.outputs));
  } catch {
    return 1; // a throwing getter: the serializer rejects the record later, counted
  }
}
