/**
 * A model as the server runs it: its identity (registered name and version), how it takes input (the
 * layout), what it outputs, and a predict that goes through the model's own batcher. Results are views
 * that render lazily into each protocol's answer, so the MLflow path never builds v2 tensors and back.
 */
import type { RowMatrix } from './row-matrix.js';
import type { ModelSignature, TensorSpec } from '../models/index.js';
import type { InputLayout, PreparedInput } from './input.js';

export interface ModelIdentity {
  /** The name the v2 protocol serves the model under (the registered name, else derived from the URI). */
  name: string;
  registeredName: string | null;
  version: string | null;
  uri: string;
}

/** A v2 tensor: flat data in row-major order. */
export interface V2Tensor {
  name: string;
  datatype: string;
  shape: number[];
  data: unknown[];
}

export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

export interface ScoringResult {
  /** The MLflow `predictions` value. */
  predictions(): unknown;
  /** The v2 `outputs`. */
  tensors(): V2Tensor[];
  /** One output per input row, for the inference log. */
  rowOutputs(): unknown[];
  /** `JSON.stringify(rowOutputs())` when the result can write it without building the rows (optional). */
  rowOutputsJson?(): string;
}

export interface ServingModel {
  readonly identity: ModelIdentity;
  readonly flavor: 'onnx' | 'js';
  /** 'onnxruntime_onnx' or 'flywheel_js' (v2 metadata). */
  readonly platform: string;
  readonly signature: ModelSignature | undefined;
  readonly layout: InputLayout;
  readonly inputsMetadata: TensorMetadata[];
  readonly outputsMetadata: TensorMetadata[];
  /** Runs a checked input, batched with concurrent requests when the layout allows. */
  predict(input: PreparedInput): Promise<ScoringResult>;
  /** One object per input row (feature name → value), for the inference log. */
  rowInputs(input: PreparedInput): Record<string, unknown>[];
  /** The input as a row matrix, when it is one (optional): the inference log writes its rows from it. */
  rowInputsMatrix?(input: PreparedInput): RowMatrix | undefined;
  close(): Promise<void>;
}

/** v2 datatypes of MLflow column types and ONNX/numpy dtypes. */
const V2_TYPES: Record<string, string> = {
  double: 'FP64', float: 'FP32', long: 'INT64', integer: 'INT32', boolean: 'BOOL', string: 'BYTES', binary: 'BYTES',
  datetime: 'BYTES', float64: 'FP64', float32: 'FP32', float16: 'FP16', int64: 'INT64', int32: 'INT32',
  int16: 'INT16', int8: 'INT8', uint64: 'UINT64', uint32: 'UINT32', uint16: 'UINT16', uint8: 'UINT8', bool: 'BOOL',
  str: 'BYTES', object: 'BYTES',
};
export const v2Datatype = (t: string): string => V2_TYPES[t] ?? t.toUpperCase();

/** Inputs as the v2 metadata endpoint describes them. */
export function inputsMetadata(layout: InputLayout, onnxInput?: { name: string; type: string; width: number }): TensorMetadata[] {
  if (layout.kind === 'matrix' && !layout.named && onnxInput) {
    return [{ name: onnxInput.name, datatype: v2Datatype(onnxInput.type), shape: [-1, onnxInput.width] }];
  }
  if (layout.kind === 'matrix' || (layout.kind === 'rows' && layout.columns)) {
    return (layout.columns ?? []).map((c) => ({ name: c.name, datatype: v2Datatype(c.type), shape: [-1] }));
  }
  if (layout.kind === 'tensors' && layout.specs) return tensorSpecsMetadata(layout.specs);
  return [];
}

export const tensorSpecsMetadata = (specs: TensorSpec[]): TensorMetadata[] =>
  specs.map((s, i) => ({ name: s.name ?? `input-${i}`, datatype: v2Datatype(s['tensor-spec'].dtype), shape: s['tensor-spec'].shape }));

/** Signature outputs as v2 metadata (for models whose runtime does not describe them). */
export function signatureOutputsMetadata(signature: ModelSignature | undefined): TensorMetadata[] {
  const outputs = signature?.outputs;
  if (!outputs || outputs.length === 0) return [];
  if (outputs.every((s) => s.type === 'tensor')) return tensorSpecsMetadata(outputs as TensorSpec[]);
  return outputs.map((s, i) => ({ name: s.name ?? `output-${i}`, datatype: v2Datatype(s.type), shape: [-1] }));
}
