/**
 * Models the fast path does not cover (js models, ONNX models with several inputs or non-numeric columns,
 * tensor signatures) run through the model loader's own predict, which enforces the signature again.
 * Column inputs are batched (records concatenated); tensor inputs run one request at a time.
 */
import { FlywheelError } from '../core/index.js';
import type { LoadedModel, ModelSignature, Row } from '../models/index.js';
import { Batcher, type BatcherOptions } from './batcher.js';
import { isPlainObject, type InputLayout, type PreparedInput } from './input.js';
import {
  inputsMetadata, signatureOutputsMetadata, type ModelIdentity, type ScoringResult, type ServingModel, type TensorMetadata,
  type V2Tensor,
} from './serving-model.js';

function flatten(values: unknown[]): { shape: number[]; data: unknown[] } {
  const shape = [values.length];
  let probe: unknown = values[0];
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = probe[0];
  }
  const data = shape.length === 1 ? values : (values as unknown[]).flat(shape.length - 1);
  return { shape, data };
}

function datatypeOf(data: unknown[]): string {
  if (data.length > 0 && data.every((v) => typeof v === 'boolean')) return 'BOOL';
  if (data.length > 0 && data.every((v) => typeof v === 'number')) {
    return data.every((v) => Number.isInteger(v)) ? 'INT64' : 'FP64';
  }
  return 'BYTES';
}

const tensorOf = (name: string, values: unknown[]): V2Tensor => {
  const { shape, data } = flatten(values);
  return { name, datatype: datatypeOf(data), shape, data };
};

class LoaderResult implements ScoringResult {
  /** `perRow` when the prediction has one entry per input row; else the prediction as a whole. */
  constructor(private readonly prediction: unknown, private readonly perRow: boolean, private readonly outputName: string) {}

  predictions(): unknown {
    return this.prediction;
  }

  tensors(): V2Tensor[] {
    const p = this.prediction;
    if (Array.isArray(p) && p.length > 0 && p.every(isPlainObject)) {
      const names = Object.keys(p[0] as Row);
      return names.map((name) => tensorOf(name, (p as Row[]).map((r) => r[name])));
    }
    if (Array.isArray(p)) return [tensorOf(this.outputName, p)];
    if (isPlainObject(p)) return Object.entries(p).map(([name, v]) => tensorOf(name, Array.isArray(v) ? v : [v]));
    return [tensorOf(this.outputName, [p])];
  }

  rowOutputs(): unknown[] {
    return this.perRow ? (this.prediction as unknown[]) : [this.prediction];
  }
}

type RowsInput = Extract<PreparedInput, { kind: 'rows' }>;

export class LoaderModel implements ServingModel {
  readonly platform: string;
  readonly flavor: 'onnx' | 'js';
  readonly signature: ModelSignature | undefined;
  readonly inputsMetadata: TensorMetadata[];
  readonly outputsMetadata: TensorMetadata[];
  private readonly batcher: Batcher<RowsInput, ScoringResult>;
  private readonly outputName: string;

  constructor(
    readonly identity: ModelIdentity,
    private readonly loaded: LoadedModel,
    readonly layout: InputLayout,
    batching: BatcherOptions,
  ) {
    this.flavor = loaded.flavor;
    this.platform = loaded.flavor === 'onnx' ? 'onnxruntime_onnx' : 'flywheel_js';
    this.signature = loaded.signature;
    this.inputsMetadata = inputsMetadata(layout);
    this.outputsMetadata = signatureOutputsMetadata(loaded.signature);
    this.outputName = this.outputsMetadata.length === 1 ? this.outputsMetadata[0].name : 'predictions';
    this.batcher = new Batcher((inputs) => this.runRows(inputs), batching);
  }

  async predict(input: PreparedInput): Promise<ScoringResult> {
    if (input.kind === 'rows') return this.batcher.submit(input, input.rows);
    if (input.kind === 'tensors') {
      const p = await this.loaded.predict(input.input);
      return new LoaderResult(p, Array.isArray(p) && p.length === input.rows, this.outputName);
    }
    throw new FlywheelError('INTERNAL_ERROR', 'internal: a matrix input reached a loader model');
  }

  private async runRows(inputs: RowsInput[]): Promise<ScoringResult[]> {
    const all = inputs.length === 1 ? inputs[0].records : inputs.flatMap((i) => i.records);
    const p = await this.loaded.predict(all);
    const perRow = Array.isArray(p) && p.length === all.length;
    if (inputs.length === 1) return [new LoaderResult(p, perRow, this.outputName)];
    // A prediction that is not one entry per row cannot be split: the batcher retries each request alone.
    if (!perRow) throw new FlywheelError('INTERNAL_ERROR', 'prediction is not one entry per row; cannot split a batch');
    const out: ScoringResult[] = [];
    let start = 0;
    for (const i of inputs) {
      out.push(new LoaderResult((p as unknown[]).slice(start, start + i.rows), true, this.outputName));
      start += i.rows;
    }
    return out;
  }

  rowInputs(input: PreparedInput): Record<string, unknown>[] {
    if (input.kind === 'rows') return input.records;
    if (input.kind !== 'tensors') return [];
    const raw = input.input;
    if (Array.isArray(raw)) return raw.map((row) => (isPlainObject(row) ? row : { input: row }));
    if (isPlainObject(raw)) {
      const entries = Object.entries(raw).filter(([, v]) => Array.isArray(v)) as [string, unknown[]][];
      return Array.from({ length: input.rows }, (_, r) => Object.fromEntries(entries.map(([k, v]) => [k, v[r]])));
    }
    return [];
  }

  close(): Promise<void> {
    return this.loaded.close();
  }
}
