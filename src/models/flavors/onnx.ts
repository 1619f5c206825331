/**
 * The `onnx` flavor: an .onnx file run by onnxruntime-node on the CPU. Reads the flavor config MLflow's
 * `mlflow.onnx.log_model` writes (`onnx: {data: model.onnx, onnx_version, providers}`); providers are
 * ignored because only the CPU runtime ships here.
 */
import * as ort from 'onnxruntime-node';
import { FlywheelError, invalidParameter } from '../../core/index.js';
import type { FlavorConfig } from '../mlmodel.js';
import { readModelFile } from '../model-files.js';
import type { EnforcedInput, FlatTensor, Row } from '../signature.js';
import { decodeOnnxModel, refuseExternalData } from './onnx-check.js';
import type { FlavorModel, Prediction } from './types.js';

export const ONNX_FLAVOR = 'onnx';
export const DEFAULT_ONNX_FILE = 'model.onnx';

type TensorType = ort.Tensor.Type;

/** Builds and checks a session from bytes; shared by the loader and saveModel's validation. */
export async function createOnnxSession(bytes: Uint8Array, label: string): Promise<ort.InferenceSession> {
  refuseExternalData(decodeOnnxModel(bytes, label), label);
  try {
    return await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
  } catch (e) {
    throw invalidParameter(`onnxruntime could not load '${label}': ${(e as Error).message}`);
  }
}

function toTypedData(values: unknown[], type: TensorType, label: string): ort.Tensor['data'] {
  const numbers = () =>
    values.map((v) => {
      if (v === null || v === undefined) return NaN;
      if (typeof v === 'boolean') return v ? 1 : 0;
      if (typeof v !== 'number') throw invalidParameter(`Input '${label}' needs numbers, got ${typeof v}`);
      return v;
    });
  const ints = () =>
    numbers().map((n) => {
      if (!Number.isInteger(n)) throw invalidParameter(`Input '${label}' needs integers, got ${n}`);
      return n;
    });
  switch (type) {
    case 'float32': return Float32Array.from(numbers());
    case 'float64': return Float64Array.from(numbers());
    case 'int32': return Int32Array.from(ints());
    case 'int64': return BigInt64Array.from(ints(), (n) => BigInt(n));
    case 'int8': return Int8Array.from(ints());
    case 'uint8': return Uint8Array.from(ints());
    case 'bool': return Uint8Array.from(values, (v) => (v ? 1 : 0));
    case 'string': return values.map((v) => String(v));
    default: throw invalidParameter(`Input '${label}' has type ${type}, which Flywheel cannot feed`);
  }
}

interface InputInfo { name: string; type: TensorType; shape: ReadonlyArray<number | string> }

function inputInfo(session: ort.InferenceSession): InputInfo[] {
  return session.inputNames.map((name, i) => {
    const meta = session.inputMetadata?.[i];
    if (meta && meta.isTensor) return { name, type: meta.type, shape: meta.shape };
    if (meta && !meta.isTensor) throw invalidParameter(`ONNX input '${name}' is not a tensor; Flywheel feeds tensors only`);
    return { name, type: 'float32', shape: [] };
  });
}

function feedsFromColumns(input: Extract<EnforcedInput, { kind: 'columns' }>, infos: InputInfo[]) {
  const n = input.rows.length;
  const feeds: Record<string, ort.Tensor> = {};
  if (infos.length === 1) {
    // One input: the frame becomes an [n, columns] matrix in signature order (as MLflow's onnx pyfunc does).
    const [info] = infos;
    const width = input.columns.length;
    const declared = info.shape[info.shape.length - 1];
    if (info.shape.length === 2 && typeof declared === 'number' && declared > 0 && declared !== width) {
      throw invalidParameter(`ONNX input '${info.name}' takes ${declared} features, got ${width} columns (${input.columns.join(', ')})`);
    }
    const values = input.rows.flatMap((r) => input.columns.map((c) => r[c]));
    feeds[info.name] = new ort.Tensor(info.type, toTypedData(values, info.type, info.name), [n, width]);
    return feeds;
  }
  // Several inputs: each is fed from the column of the same name.
  for (const info of infos) {
    if (!input.columns.includes(info.name)) throw invalidParameter(`Missing column '${info.name}' (an ONNX input)`);
    const values = input.rows.map((r: Row) => r[info.name]);
    const dims = info.shape.length === 1 ? [n] : [n, 1];
    feeds[info.name] = new ort.Tensor(info.type, toTypedData(values, info.type, info.name), dims);
  }
  return feeds;
}

function feedsFromTensors(tensors: FlatTensor[], infos: InputInfo[]) {
  if (tensors.length !== infos.length) {
    throw invalidParameter(`The ONNX model takes ${infos.length} input(s) (${infos.map((i) => i.name).join(', ')}), got ${tensors.length}`);
  }
  const feeds: Record<string, ort.Tensor> = {};
  for (const [i, info] of infos.entries()) {
    const t = tensors.find((x) => x.name === info.name) ?? (tensors.length === 1 ? tensors[0] : tensors[i]);
    if (t.shape.length !== info.shape.length && info.shape.length > 0) {
      throw invalidParameter(`ONNX input '${info.name}' has rank ${info.shape.length}, got [${t.shape.join(', ')}]`);
    }
    feeds[info.name] = new ort.Tensor(info.type, toTypedData(t.data, info.type, info.name), t.shape);
  }
  return feeds;
}

function plainValues(t: ort.Tensor): unknown[] {
  const data = t.data as ArrayLike<unknown>;
  return Array.from(data, (v) => (typeof v === 'bigint' ? Number(v) : t.type === 'bool' ? Boolean(v) : v));
}

function nest(flat: unknown[], dims: readonly number[]): unknown {
  if (dims.length <= 1) return flat;
  const [, ...rest] = dims;
  const step = rest.reduce((a, b) => a * b, 1);
  return Array.from({ length: dims[0] }, (_, i) => nest(flat.slice(i * step, (i + 1) * step), rest));
}

function readOutputs(session: ort.InferenceSession, result: ort.InferenceSession.ReturnType) {
  return session.outputNames.map((name) => {
    const value = result[name];
    if (!(value instanceof ort.Tensor)) throw new FlywheelError('INTERNAL_ERROR', `ONNX output '${name}' is not a tensor`);
    return { name, dims: value.dims, values: plainValues(value) };
  });
}

export async function loadOnnxFlavor(modelDir: string, config: FlavorConfig): Promise<FlavorModel> {
  const file = typeof config.data === 'string' ? config.data : DEFAULT_ONNX_FILE;
  const bytes = await readModelFile(modelDir, file, 'ONNX model');
  const session = await createOnnxSession(bytes, file);
  const infos = inputInfo(session);
  return {
    flavor: ONNX_FLAVOR,
    async predict(input: EnforcedInput): Promise<Prediction> {
      const feeds = input.kind === 'columns' ? feedsFromColumns(input, infos) : feedsFromTensors(input.tensors, infos);
      let result: ort.InferenceSession.ReturnType;
      try {
        result = await session.run(feeds);
      } catch (e) {
        throw invalidParameter(`ONNX model failed on this input: ${(e as Error).message}`);
      }
      const outputs = readOutputs(session, result);
      if (input.kind === 'columns') {
        // Records, one per row; an output of shape [n] or [n, 1] becomes a scalar per row.
        const n = input.rows.length;
        return Array.from({ length: n }, (_, r) =>
          Object.fromEntries(
            outputs.map(({ name, dims, values }) => {
              if (dims[0] !== n) return [name, nest(values, dims)];
              const width = values.length / n;
              const slice = values.slice(r * width, (r + 1) * width);
              return [name, width === 1 ? slice[0] : nest(slice, dims.slice(1))];
            }),
          ),
        );
      }
      if (outputs.length === 1) return nest(outputs[0].values, outputs[0].dims) as unknown[];
      return Object.fromEntries(outputs.map((o) => [o.name, nest(o.values, o.dims)]));
    },
    async close() {
      await session.release();
    },
  };
}
