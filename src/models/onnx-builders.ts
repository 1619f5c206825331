/**
 * ONNX graphs for models trained in TypeScript, written with onnx-proto: linear regression
 * (MatMul + Add) and logistic regression (binary: Sigmoid; multinomial: Softmax; both with an int64
 * label from ArgMax). The result is a servable `model.onnx` for the onnx flavor.
 */
import onnxProto from 'onnx-proto';
import { invalidParameter } from '../core/index.js';

const { onnx } = onnxProto;
/** onnxruntime-node 1.30 runs IR 8 / opset 13 models; these are also what onnx 1.10 (onnx-proto) writes. */
export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 13;
export const INPUT_NAME = 'input';

export interface LinearRegressionSpec {
  kind: 'linear';
  /** One weight per feature (single target) or one row of weights per target: [targets][features]. */
  coefficients: number[] | number[][];
  intercept: number | number[];
}

export interface LogisticRegressionSpec {
  kind: 'logistic';
  /** Binary: one weight per feature. Multinomial: one row per class, [classes][features]. */
  coefficients: number[] | number[][];
  intercept: number | number[];
  /** Binary models: label = probability >= threshold (default 0.5). */
  threshold?: number;
}

export type OnnxModelSpec = LinearRegressionSpec | LogisticRegressionSpec;

/** Simple `{weights, bias}` objects (the shape many hand-written TS trainers produce). */
export interface WeightsAndBias {
  weights: number[] | number[][];
  bias: number | number[];
}

export const fromWeightsAndBias = (kind: 'linear' | 'logistic', m: WeightsAndBias): OnnxModelSpec => ({
  kind,
  coefficients: m.weights,
  intercept: m.bias,
});

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

function valueInfo(name: string, elemType: number, dims: (number | string)[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

const floatTensor = (name: string, dims: number[], values: number[]) =>
  onnx.TensorProto.create({ name, dims, dataType: FLOAT, floatData: values });

const int64Tensor = (name: string, dims: number[], values: number[]) =>
  onnx.TensorProto.create({ name, dims, dataType: INT64, int64Data: values });

const node = (opType: string, inputs: string[], outputs: string[], attribute: onnxProto.onnx.IAttributeProto[] = []) =>
  onnx.NodeProto.create({ opType, input: inputs, output: outputs, name: `${opType}_${outputs[0]}`, attribute });

const intAttr = (name: string, i: number) =>
  onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i });

/** Normalises coefficients to [outputs][features] and checks every number is finite. */
function matrix(spec: OnnxModelSpec): { rows: number[][]; bias: number[] } {
  const c = spec.coefficients;
  const rows = Array.isArray(c[0]) ? (c as number[][]) : [c as number[]];
  const bias = Array.isArray(spec.intercept) ? spec.intercept : [spec.intercept];
  const features = rows[0]?.length ?? 0;
  if (features === 0) throw invalidParameter(`${spec.kind} model needs at least one coefficient`);
  if (rows.some((r) => !Array.isArray(r) || r.length !== features)) {
    throw invalidParameter(`${spec.kind} model: every coefficient row needs ${features} values`);
  }
  if (bias.length !== rows.length) {
    throw invalidParameter(`${spec.kind} model: ${rows.length} coefficient row(s) but ${bias.length} intercept(s)`);
  }
  if ([...rows.flat(), ...bias].some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
    throw invalidParameter(`${spec.kind} model: coefficients and intercepts must be finite numbers`);
  }
  return { rows, bias };
}

/** Transposed weight matrix [features][outputs], flattened row-major, for MatMul(input, W). */
const transposed = (rows: number[][]) => rows[0].map((_, f) => rows.map((r) => r[f])).flat();

function encode(graph: onnxProto.onnx.IGraphProto, docString: string): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'flywheel',
    producerVersion: '0.1.0',
    docString,
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

/**
 * Linear regression: `variable = input · Wᵀ + b`, output `variable` of shape [N, targets]
 * (skl2onnx's name for regressor outputs).
 */
export function buildLinearRegressionOnnx(spec: Omit<LinearRegressionSpec, 'kind'>): Uint8Array {
  const { rows, bias } = matrix({ kind: 'linear', ...spec });
  const features = rows[0].length;
  const targets = rows.length;
  const graph = onnx.GraphProto.create({
    name: 'linear_regression',
    input: [valueInfo(INPUT_NAME, FLOAT, ['N', features])],
    output: [valueInfo('variable', FLOAT, ['N', targets])],
    initializer: [floatTensor('coef', [features, targets], transposed(rows)), floatTensor('intercept', [targets], bias)],
    node: [node('MatMul', [INPUT_NAME, 'coef'], ['matmul']), node('Add', ['matmul', 'intercept'], ['variable'])],
  });
  return encode(graph, 'Linear regression built by Flywheel');
}

/**
 * Logistic regression with outputs `label` (int64 [N]) and `probabilities` (float [N, classes]).
 * Binary (one coefficient row): probabilities are [1 - p, p] with p = sigmoid(w·x + b) and
 * label = p >= threshold. Multinomial (a row per class): softmax over the class scores, label = argmax.
 */
export function buildLogisticRegressionOnnx(spec: Omit<LogisticRegressionSpec, 'kind'>): Uint8Array {
  const { rows, bias } = matrix({ kind: 'logistic', ...spec });
  const features = rows[0].length;
  const binary = rows.length === 1;
  const classes = binary ? 2 : rows.length;
  const initializer = [floatTensor('coef', [features, rows.length], transposed(rows)), floatTensor('intercept', [rows.length], bias)];
  const nodes = [node('MatMul', [INPUT_NAME, 'coef'], ['matmul']), node('Add', ['matmul', 'intercept'], ['scores'])];
  if (binary) {
    const threshold = spec.threshold ?? 0.5;
    if (!(threshold > 0 && threshold < 1)) throw invalidParameter('logistic threshold must be between 0 and 1');
    initializer.push(floatTensor('one', [], [1]), floatTensor('threshold', [], [threshold]));
    initializer.push(int64Tensor('label_shape', [1], [-1]) as onnxProto.onnx.TensorProto);
    nodes.push(
      node('Sigmoid', ['scores'], ['p1']),
      node('Sub', ['one', 'p1'], ['p0']),
      node('Concat', ['p0', 'p1'], ['probabilities'], [intAttr('axis', 1)]),
      node('GreaterOrEqual', ['p1', 'threshold'], ['is_positive']),
      node('Cast', ['is_positive'], ['label_2d'], [intAttr('to', INT64)]),
      node('Reshape', ['label_2d', 'label_shape'], ['label']),
    );
  } else {
    nodes.push(
      node('Softmax', ['scores'], ['probabilities'], [intAttr('axis', 1)]),
      node('ArgMax', ['scores'], ['label'], [intAttr('axis', 1), intAttr('keepdims', 0)]),
    );
  }
  const graph = onnx.GraphProto.create({
    name: binary ? 'binary_logistic_regression' : 'multinomial_logistic_regression',
    input: [valueInfo(INPUT_NAME, FLOAT, ['N', features])],
    output: [valueInfo('label', INT64, ['N']), valueInfo('probabilities', FLOAT, ['N', classes])],
    initializer,
    node: nodes,
  });
  return encode(graph, 'Logistic regression built by Flywheel');
}

export function buildOnnxModel(spec: OnnxModelSpec): Uint8Array {
  if (spec.kind === 'linear') return buildLinearRegressionOnnx(spec);
  if (spec.kind === 'logistic') return buildLogisticRegressionOnnx(spec);
  throw invalidParameter(`Unknown ONNX model kind '${(spec as { kind: unknown }).kind}' (use 'linear' or 'logistic')`);
}
