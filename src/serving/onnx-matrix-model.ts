/**
 * The fast path for the common case: an ONNX model with one numeric [rows, features] input (a logistic
 * regression, a tree ensemble, an MLP). Requests arrive as Float64Arrays already in signature order; a batch
 * is one Float32Array (or Float64Array) filled from them and one `session.run`; outputs are sliced back per
 * request as views, rendered only into the protocol that asked.
 */
import * as ort from 'onnxruntime-node';
import { invalidParameter } from '../core/index.js';
import type { ModelSignature } from '../models/index.js';
import { Batcher, type BatcherOptions } from './batcher.js';
import type { InputLayout, PreparedInput } from './input.js';
import type { RowMatrix } from './row-matrix.js';
import {
  inputsMetadata, v2Datatype, type ModelIdentity, type ScoringResult, type ServingModel, type TensorMetadata, type V2Tensor,
} from './serving-model.js';

type MatrixInput = Extract<PreparedInput, { kind: 'matrix' }>;
type MatrixLayout = Extract<InputLayout, { kind: 'matrix' }>;

interface OutputBlock {
  name: string;
  type: string;
  /** Values per row (product of the dims after the first); 0 when the output is not per row. */
  width: number;
  rowDims: number[];
  data: ArrayLike<number | bigint | boolean | string>;
  whole: number[] | undefined;
}

const plain = (v: number | bigint | boolean | string, type: string): unknown =>
  typeof v === 'number' ? (type === 'bool' ? v !== 0 : v) : typeof v === 'bigint' ? Number(v) : v;

function nest(flat: unknown[], dims: readonly number[]): unknown {
  if (dims.length <= 1) return flat;
  const step = dims.slice(1).reduce((a, b) => a * b, 1);
  return Array.from({ length: dims[0] }, (_, i) => nest(flat.slice(i * step, (i + 1) * step), dims.slice(1)));
}

/** The outputs of one request: rows [start, start + rows) of the batch's outputs. */
class MatrixResult implements ScoringResult {
  constructor(
    private readonly blocks: OutputBlock[],
    private readonly start: number,
    private readonly rows: number,
    private readonly records: boolean,
  ) {}

  private values(b: OutputBlock): unknown[] {
    if (b.width === 0) return Array.from(b.data as ArrayLike<unknown>, (v) => plain(v as number, b.type));
    const from = this.start * b.width;
    const out = new Array(this.rows * b.width);
    for (let i = 0; i < out.length; i++) out[i] = plain(b.data[from + i], b.type);
    return out;
  }

  /** Row r's value of one output: a scalar, a list, or nested lists. */
  private rowValue(b: OutputBlock, r: number): unknown {
    const at = (this.start + r) * b.width;
    if (b.width === 1) return plain(b.data[at], b.type);
    const out = new Array(b.width);
    for (let i = 0; i < b.width; i++) out[i] = plain(b.data[at + i], b.type);
    return b.rowDims.length <= 1 ? out : nest(out, b.rowDims);
  }

  private records_: Record<string, unknown>[] | undefined;

  /** One record per row (computed once: the answer and the inference log share it; neither mutates it). */
  private recordsOf(): Record<string, unknown>[] {
    return (this.records_ ??= this.buildRecords());
  }

  private buildRecords(): Record<string, unknown>[] {
    const wholes = this.blocks.map((b) => (b.width === 0 ? this.values(b) : undefined));
    const out = new Array(this.rows);
    for (let r = 0; r < this.rows; r++) {
      const rec: Record<string, unknown> = {};
      for (let k = 0; k < this.blocks.length; k++) {
        const b = this.blocks[k];
        rec[b.name] = b.width === 0 ? wholes[k] : this.rowValue(b, r);
      }
      out[r] = rec;
    }
    return out;
  }

  predictions(): unknown {
    if (this.records) return this.recordsOf();
    const nested = this.blocks.map((b) => {
      const flat = this.values(b);
      if (b.width === 0) return nest(flat, b.whole ?? [flat.length]);
      return b.width === 1 ? flat : nest(flat, [this.rows, ...b.rowDims]);
    });
    if (nested.length === 1) return nested[0];
    return Object.fromEntries(this.blocks.map((b, k) => [b.name, nested[k]]));
  }

  tensors(): V2Tensor[] {
    return this.blocks.map((b) => ({
      name: b.name,
      datatype: v2Datatype(b.type),
      shape: b.width === 0 ? b.whole ?? [] : [this.rows, ...b.rowDims],
      data: this.values(b),
    }));
  }

  rowOutputs(): unknown[] {
    return this.recordsOf();
  }

  /** The records hold plain values only (numbers, booleans, strings, lists): no replacer needed. */
  rowOutputsJson(): string {
    return JSON.stringify(this.recordsOf());
  }
}

export interface OnnxMatrixModelInit {
  identity: ModelIdentity;
  session: ort.InferenceSession;
  layout: MatrixLayout;
  signature: ModelSignature | undefined;
  input: { name: string; type: 'float32' | 'float64'; width: number };
  batching: BatcherOptions;
}

export class OnnxMatrixModel implements ServingModel {
  readonly flavor = 'onnx';
  readonly platform = 'onnxruntime_onnx';
  readonly identity: ModelIdentity;
  readonly layout: MatrixLayout;
  readonly signature: ModelSignature | undefined;
  readonly inputsMetadata: TensorMetadata[];
  readonly outputsMetadata: TensorMetadata[];
  private readonly session: ort.InferenceSession;
  private readonly input: OnnxMatrixModelInit['input'];
  private readonly batcher: Batcher<MatrixInput, ScoringResult>;

  constructor(init: OnnxMatrixModelInit) {
    this.identity = init.identity;
    this.session = init.session;
    this.layout = init.layout;
    this.signature = init.signature;
    this.input = init.input;
    this.inputsMetadata = inputsMetadata(init.layout, init.input);
    this.outputsMetadata = init.session.outputNames.map((name, i) => {
      const meta = init.session.outputMetadata?.[i];
      const tensor = meta && meta.isTensor ? meta : undefined;
      return {
        name,
        datatype: v2Datatype(tensor?.type ?? 'float32'),
        shape: (tensor?.shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : -1)),
      };
    });
    this.batcher = new Batcher((inputs) => this.run(inputs), init.batching);
  }

  predict(input: PreparedInput): Promise<ScoringResult> {
    if (input.kind !== 'matrix') throw invalidParameter('internal: this model takes a matrix input');
    return this.batcher.submit(input, input.rows);
  }

  /** One session.run for the whole batch. */
  async run(inputs: MatrixInput[]): Promise<ScoringResult[]> {
    const { width, type, name } = this.input;
    let total = 0;
    for (const i of inputs) total += i.rows;
    const buffer = type === 'float32' ? new Float32Array(total * width) : new Float64Array(total * width);
    let offset = 0;
    for (const i of inputs) {
      buffer.set(i.values, offset);
      offset += i.values.length;
    }
    let result: ort.InferenceSession.ReturnType;
    try {
      result = await this.session.run({ [name]: new ort.Tensor(type, buffer, [total, width]) });
    } catch (e) {
      throw invalidParameter(`ONNX model failed on this input: ${(e as Error).message}`);
    }
    const blocks: OutputBlock[] = this.session.outputNames.map((out) => {
      const t = result[out] as ort.Tensor;
      const dims = t.dims as number[];
      const perRow = dims.length > 0 && dims[0] === total;
      const rowDims = perRow ? dims.slice(1) : [];
      return {
        name: out,
        type: t.type,
        width: perRow ? rowDims.reduce((a, b) => a * b, 1) : 0,
        rowDims,
        data: t.data as OutputBlock['data'],
        whole: perRow ? undefined : dims,
      };
    });
    const out: ScoringResult[] = [];
    let start = 0;
    for (const i of inputs) {
      out.push(new MatrixResult(blocks, start, i.rows, this.layout.named));
      start += i.rows;
    }
    return out;
  }

  rowInputs(input: PreparedInput): Record<string, unknown>[] {
    if (input.kind !== 'matrix') return [];
    const cols = this.layout.columns;
    const width = cols.length;
    const rows: Record<string, unknown>[] = new Array(input.rows);
    for (let r = 0; r < input.rows; r++) {
      if (!this.layout.named) {
        rows[r] = { [this.input.name]: Array.from(input.values.subarray(r * width, (r + 1) * width)) };
        continue;
      }
      const rec: Record<string, unknown> = {};
      for (let j = 0; j < width; j++) rec[cols[j].name] = input.values[r * width + j];
      rows[r] = rec;
    }
    return rows;
  }

  /** The input rows as a matrix (values shared, not copied), for the inference log's serializer. */
  rowInputsMatrix(input: PreparedInput): RowMatrix | undefined {
    if (input.kind !== 'matrix') return undefined;
    return {
      values: input.values,
      rows: input.rows,
      width: this.layout.columns.length,
      names: this.layout.named ? (this.names ??= this.layout.columns.map((c) => c.name)) : null,
      inputName: this.input.name,
    };
  }

  private names: string[] | undefined;

  async close(): Promise<void> {
    await this.session.release();
  }
}
