/**
 * Loads a model directory for serving: the ONNX fast path when the model takes one numeric matrix, the
 * model loader otherwise; then warms it with one prediction (its input example, or zeros matching the
 * signature) so the first real request pays no start-up cost and a model that cannot predict never serves.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { FlywheelError, invalidParameter } from '../core/index.js';
import {
  chooseFlavor, decodeOnnxModel, DEFAULT_ONNX_FILE, loadModelFromDirectory, parseSignature, readMLmodel, readModelFile,
  refuseExternalData, type ColumnType, type MLmodel, type ModelSignature, type TensorSpec,
} from '../models/index.js';
import type { BatcherOptions } from './batcher.js';
import { columnsOf, isNumericType, type ColumnInfo, mlflowRequestData, prepareInput, type InputLayout, type RequestData } from './input.js';
import { LoaderModel } from './loader-model.js';
import { OnnxMatrixModel } from './onnx-matrix-model.js';
import type { ModelIdentity, ServingModel } from './serving-model.js';

export interface LoadServingModelOptions {
  allowJs: boolean;
  batching: BatcherOptions;
  /** onnxruntime intra-op threads (default 1: small models lose more to thread hand-offs than they gain). */
  onnxThreads?: number;
}

async function onnxSession(dir: string, metadata: MLmodel, threads: number): Promise<ort.InferenceSession> {
  const config = metadata.flavors.onnx;
  const file = typeof config.data === 'string' ? config.data : DEFAULT_ONNX_FILE;
  const bytes = await readModelFile(dir, file, 'ONNX model');
  refuseExternalData(decodeOnnxModel(bytes, file), file);
  try {
    return await ort.InferenceSession.create(bytes, {
      executionProviders: ['cpu'],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
    });
  } catch (e) {
    throw invalidParameter(`onnxruntime could not load '${file}': ${(e as Error).message}`);
  }
}

/** The matrix layout when the session takes one numeric [N, width] tensor that the signature describes. */
type MatrixLayout = Extract<InputLayout, { kind: 'matrix' }>;
type MatrixInputInfo = { name: string; type: 'float32' | 'float64'; width: number };

function matrixLayout(session: ort.InferenceSession, signature: ModelSignature | undefined): { layout: MatrixLayout; input: MatrixInputInfo } | undefined {
  if (session.inputNames.length !== 1) return undefined;
  const meta = session.inputMetadata?.[0];
  if (!meta || !meta.isTensor || (meta.type !== 'float32' && meta.type !== 'float64') || meta.shape.length !== 2) return undefined;
  const declared = meta.shape[1];
  const columns = columnsOf(signature);
  const input = { name: session.inputNames[0], type: meta.type as 'float32' | 'float64' };
  if (columns) {
    if (!columns.every((c) => isNumericType(c.type))) return undefined;
    if (typeof declared === 'number' && declared > 0 && declared !== columns.length) {
      throw invalidParameter(`ONNX input '${input.name}' takes ${declared} features but the signature has ${columns.length} columns`);
    }
    return { layout: { kind: 'matrix', columns, named: true }, input: { ...input, width: columns.length } };
  }
  const tensors = signature?.inputs;
  let width: number | undefined = typeof declared === 'number' && declared > 0 ? declared : undefined;
  if (tensors && tensors.length > 0) {
    const specs = tensors as TensorSpec[];
    const shape = specs.length === 1 ? specs[0]['tensor-spec'].shape : [];
    if (shape.length !== 2 || !(shape[1] > 0) || !isNumericType(tensorColumnType(specs[0]['tensor-spec'].dtype))) return undefined;
    width = shape[1];
  }
  if (width === undefined) return undefined;
  const type = tensors?.length ? tensorColumnType((tensors as TensorSpec[])[0]['tensor-spec'].dtype) : 'double';
  const unnamed: ColumnInfo[] = Array.from({ length: width }, (_, j) => ({ name: String(j), type, required: true }));
  return { layout: { kind: 'matrix', columns: unnamed, named: false }, input: { ...input, width } };
}

const tensorColumnType = (dtype: string): ColumnType =>
  /^float/.test(dtype) || dtype === 'double' ? 'double' : /^u?int/.test(dtype) ? 'long' : dtype === 'bool' ? 'boolean' : 'string';

function loaderLayout(signature: ModelSignature | undefined): InputLayout {
  const columns = columnsOf(signature);
  if (columns) return { kind: 'rows', columns, signature };
  const specs = signature?.inputs?.length ? (signature.inputs as TensorSpec[]) : null;
  return { kind: 'tensors', signature, specs };
}

/** The model's serving input example, when it was saved with one. */
async function inputExample(dir: string, metadata: MLmodel): Promise<RequestData | undefined> {
  const info = metadata.saved_input_example_info;
  const file = typeof info?.serving_input_path === 'string' ? info.serving_input_path : undefined;
  if (!file || file.includes('..') || path.isAbsolute(file)) return undefined;
  try {
    return mlflowRequestData(JSON.parse(await fs.readFile(path.join(dir, file), 'utf8'))).data;
  } catch {
    return undefined;
  }
}

const zeroOf = (type: string): unknown => (isNumericType(type) ? 0 : type === 'boolean' ? false : '');

function zerosFor(layout: InputLayout): RequestData | undefined {
  if (layout.kind === 'matrix') return { form: 'positional', rows: [layout.columns.map(() => 0)] };
  if (layout.kind === 'rows' && layout.columns) {
    return { form: 'records', records: [Object.fromEntries(layout.columns.map((c) => [c.name, zeroOf(c.type)]))] };
  }
  if (layout.kind === 'tensors' && layout.specs) {
    const zeros = (spec: TensorSpec) => {
      const build = (dims: number[]): unknown => (dims.length === 0 ? zeroOf(tensorColumnType(spec['tensor-spec'].dtype)) : Array.from({ length: dims[0] === -1 ? 1 : dims[0] }, () => build(dims.slice(1))));
      return build(spec['tensor-spec'].shape);
    };
    if (layout.specs.length === 1) return { form: 'positional', rows: zeros(layout.specs[0]) as unknown[] };
    return { form: 'columnar', columns: Object.fromEntries(layout.specs.map((s, i) => [s.name ?? String(i), zeros(s)])) };
  }
  return undefined;
}

/** One prediction before the model serves; a model that cannot answer it does not load. */
async function warm(model: ServingModel, example: RequestData | undefined): Promise<boolean> {
  const data = example ?? zerosFor(model.layout);
  if (!data) return false;
  let prepared;
  try {
    prepared = prepareInput(model.layout, data);
  } catch (e) {
    if (!example) throw e;
    // An input example the signature refuses: warm with zeros instead.
    const zeros = zerosFor(model.layout);
    if (!zeros) return false;
    prepared = prepareInput(model.layout, zeros);
  }
  try {
    await model.predict(prepared);
  } catch (e) {
    throw new FlywheelError('INVALID_PARAMETER_VALUE', `The model failed its warm-up prediction: ${(e as Error).message}`);
  }
  return true;
}

export async function loadServingModel(dir: string, identity: ModelIdentity, options: LoadServingModelOptions): Promise<{ model: ServingModel; warmed: boolean }> {
  const metadata = await readMLmodel(dir);
  const signature = parseSignature(metadata.signature);
  const flavor = chooseFlavor(metadata);
  let model: ServingModel | undefined;
  if (flavor === 'onnx') {
    const session = await onnxSession(dir, metadata, options.onnxThreads ?? 1);
    let matrix;
    try {
      matrix = matrixLayout(session, signature);
    } catch (e) {
      await session.release();
      throw e;
    }
    if (matrix) {
      model = new OnnxMatrixModel({ identity, session, signature, layout: matrix.layout, input: matrix.input, batching: options.batching });
    } else await session.release();
  }
  if (!model) {
    const loaded = await loadModelFromDirectory(dir, { allowJs: options.allowJs });
    model = new LoaderModel(identity, loaded, loaderLayout(loaded.signature), options.batching);
  }
  try {
    const warmed = await warm(model, await inputExample(dir, metadata));
    return { model, warmed };
  } catch (e) {
    await model.close().catch(() => undefined);
    throw e;
  }
}
