/**
 * ONNX graphs for CART trees and random forests trained in TypeScript with `ml-cart` / `ml-random-forest`,
 * using the ai.onnx.ml TreeEnsembleRegressor operator. The converter reads the models' `toJSON()` shape
 * structurally, so Flywheel does not import either library at run time.
 *
 * Fidelity to the JS `predict`:
 * - ml-cart sends `x < splitValue` left and everything else (including NaN) right: BRANCH_LT, true = left,
 *   NaN to the false branch. Thresholds are rounded *up* to float32, so for any float32 input `x` the
 *   comparison gives the same side as the JS double comparison.
 * - Regression: the mean of the trees (aggregate AVERAGE). `selectionMethod: 'median'` is refused.
 * - Classification: ml-random-forest takes the mode of the trees' labels (each tree's label is the argmax
 *   of its leaf distribution, first index on ties), and on a tied count the class that reached it first in
 *   tree order. The graph reproduces that: one vote target per (tree, class), a running count (CumSum)
 *   over trees, and the earliest class to reach the top count. `probabilities` are the vote fractions
 *   (what `predictProbability` gives, without its 1e-6 rounding).
 */
import onnxProto from 'onnx-proto';
import { invalidParameter } from '../core/index.js';
import { INPUT_NAME, ONNX_IR_VERSION, ONNX_OPSET } from './onnx-builders.js';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
/** ai.onnx.ml opset 1 TreeEnsembleRegressor (float attributes); onnxruntime-node 1.30 runs it. */
export const ONNX_ML_OPSET = 1;

/** A node of an ml-cart tree as `toJSON()` gives it (a leaf is any node without both children). */
export interface CartNodeJson {
  splitValue?: number;
  splitColumn?: number;
  left?: CartNodeJson;
  right?: CartNodeJson;
  /** Regression: the leaf mean. Classification: a 1-row matrix of class frequencies (`[[p0, p1, …]]`). */
  distribution?: number | number[] | number[][];
}
export interface CartTreeJson {
  name: 'DTRegression' | 'DTClassifier';
  root: CartNodeJson;
}
export interface RandomForestJson {
  name: 'RFRegression' | 'RFClassifier';
  selectionMethod?: string;
  baseModel: { estimators: CartTreeJson[]; indexes: number[][]; isClassifier: boolean };
}
/** A trained model (anything with `toJSON()`) or its JSON. */
export type TreeModelInput = CartTreeJson | RandomForestJson | { toJSON(): unknown };

export interface TreeEnsembleOptions {
  /** Number of input columns (the width of `input` [N, F]). */
  features: number;
  /** Number of classes (classifiers); default: the widest leaf distribution. */
  classes?: number;
}

interface Tree {
  root: CartNodeJson;
  /** Tree column → input column (random forests train each tree on a column subset). */
  columns: number[] | null;
}

const f32 = new Float32Array(1);
/** The smallest float32 >= v, so `x < v` ⇔ `x < ceilF32(v)` for every float32 x. */
function ceilF32(v: number): number {
  f32[0] = v;
  let r = f32[0];
  if (r < v) {
    const bits = new Int32Array(f32.buffer);
    // Next float32 towards +Infinity (from ±0: the smallest positive subnormal).
    if (r === 0) bits[0] = 1;
    else bits[0] += r > 0 ? 1 : -1;
    r = f32[0];
  }
  return r;
}

const isLeaf = (n: CartNodeJson) => !(n.left && n.right);

function leafDistribution(n: CartNodeJson): number[] {
  const d = n.distribution;
  const row = Array.isArray(d) ? (Array.isArray(d[0]) ? (d[0] as number[]) : (d as number[])) : null;
  if (!row || row.length === 0 || row.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
    throw invalidParameter('Classifier tree leaf has no class distribution');
  }
  return row;
}

/** First index of the maximum (ml-matrix maxRowIndex). */
const argmax = (row: number[]) => row.reduce((best, v, i) => (v > row[best] ? i : best), 0);

function readModel(input: TreeModelInput): { classifier: boolean; trees: Tree[] } {
  const json = JSON.parse(JSON.stringify(input)) as {
    name?: string; root?: CartNodeJson; selectionMethod?: string; baseModel?: Partial<RandomForestJson['baseModel']>;
  };
  if (json.name === 'DTRegression' || json.name === 'DTClassifier') {
    if (!json.root) throw invalidParameter('Decision tree JSON has no root');
    return { classifier: json.name === 'DTClassifier', trees: [{ root: json.root, columns: null }] };
  }
  if (json.name === 'RFRegression' || json.name === 'RFClassifier') {
    const base = json.baseModel;
    if (!base || !Array.isArray(base.estimators) || base.estimators.length === 0) {
      throw invalidParameter('Random forest JSON has no trained estimators');
    }
    if (json.name === 'RFRegression' && json.selectionMethod !== undefined && json.selectionMethod !== 'mean') {
      throw invalidParameter(`Random forest selectionMethod '${json.selectionMethod}' has no ONNX equivalent (use 'mean')`);
    }
    const indexes = base.indexes;
    if (!Array.isArray(indexes) || indexes.length !== base.estimators.length) {
      throw invalidParameter('Random forest JSON needs one feature index list per estimator');
    }
    return {
      classifier: json.name === 'RFClassifier',
      trees: base.estimators.map((e, i) => ({ root: e.root, columns: indexes[i] })),
    };
  }
  throw invalidParameter(`Unsupported tree model '${String(json.name)}' (ml-cart or ml-random-forest models only)`);
}

const ints = (name: string, v: number[]) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: v });
const floats = (name: string, v: number[]) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.FLOATS, floats: v });
const str = (name: string, v: string) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(v) });
const strs = (name: string, v: string[]) =>
  onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.STRINGS, strings: v.map((s) => new TextEncoder().encode(s)) });
const int = (name: string, i: number) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i });
const node = (opType: string, inputs: string[], outputs: string[], attribute: onnxProto.onnx.IAttributeProto[] = [], domain = '') =>
  onnx.NodeProto.create({ opType, input: inputs, output: outputs, name: `${opType}_${outputs[0]}`, attribute, domain });
const int64Tensor = (name: string, dims: number[], values: number[]) => onnx.TensorProto.create({ name, dims, dataType: INT64, int64Data: values });
const floatTensor = (name: string, dims: number[], values: number[]) => onnx.TensorProto.create({ name, dims, dataType: FLOAT, floatData: values });
function valueInfo(name: string, elemType: number, dims: (number | string)[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
}

/**
 * TreeEnsembleRegressor attributes for all trees. `leaf(treeIndex, node)` gives the (target, weight) pairs
 * written at a leaf.
 */
function ensembleAttributes(trees: Tree[], features: number, leaf: (t: number, n: CartNodeJson) => [number, number][]) {
  const a = {
    nodes_treeids: [] as number[], nodes_nodeids: [] as number[], nodes_featureids: [] as number[],
    nodes_modes: [] as string[], nodes_values: [] as number[], nodes_truenodeids: [] as number[],
    nodes_falsenodeids: [] as number[], nodes_missing_value_tracks_true: [] as number[],
    target_treeids: [] as number[], target_nodeids: [] as number[], target_ids: [] as number[], target_weights: [] as number[],
  };
  trees.forEach((tree, t) => {
    let next = 0;
    const visit = (n: CartNodeJson | undefined, depth: number): number => {
      if (!n || typeof n !== 'object') throw invalidParameter(`Tree ${t} has a missing node`);
      if (depth > 10_000) throw invalidParameter(`Tree ${t} is too deep`);
      const id = next++;
      const at = a.nodes_nodeids.length;
      a.nodes_treeids.push(t);
      a.nodes_nodeids.push(id);
      a.nodes_missing_value_tracks_true.push(0);
      if (isLeaf(n)) {
        a.nodes_featureids.push(0); a.nodes_modes.push('LEAF'); a.nodes_values.push(0);
        a.nodes_truenodeids.push(0); a.nodes_falsenodeids.push(0);
        for (const [target, weight] of leaf(t, n)) {
          a.target_treeids.push(t); a.target_nodeids.push(id); a.target_ids.push(target); a.target_weights.push(weight);
        }
        return id;
      }
      const col = n.splitColumn;
      const column = tree.columns ? tree.columns[col as number] : col;
      if (!Number.isInteger(col) || !Number.isInteger(column) || (column as number) < 0 || (column as number) >= features) {
        throw invalidParameter(`Tree ${t} splits on column ${String(column)}, outside the ${features} input column(s)`);
      }
      if (typeof n.splitValue !== 'number' || Number.isNaN(n.splitValue)) throw invalidParameter(`Tree ${t} has a split without a value`);
      a.nodes_featureids.push(column as number); a.nodes_modes.push('BRANCH_LT'); a.nodes_values.push(ceilF32(n.splitValue));
      a.nodes_truenodeids.push(0); a.nodes_falsenodeids.push(0);
      a.nodes_truenodeids[at] = visit(n.left, depth + 1);
      a.nodes_falsenodeids[at] = visit(n.right, depth + 1);
      return id;
    };
    visit(tree.root, 0);
  });
  return [
    ints('nodes_treeids', a.nodes_treeids), ints('nodes_nodeids', a.nodes_nodeids), ints('nodes_featureids', a.nodes_featureids),
    strs('nodes_modes', a.nodes_modes), floats('nodes_values', a.nodes_values), ints('nodes_truenodeids', a.nodes_truenodeids),
    ints('nodes_falsenodeids', a.nodes_falsenodeids), ints('nodes_missing_value_tracks_true', a.nodes_missing_value_tracks_true),
    ints('target_treeids', a.target_treeids), ints('target_nodeids', a.target_nodeids), ints('target_ids', a.target_ids),
    floats('target_weights', a.target_weights),
  ];
}

function encode(graph: onnxProto.onnx.IGraphProto, docString: string): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }, { domain: 'ai.onnx.ml', version: ONNX_ML_OPSET }],
    producerName: 'flywheel',
    producerVersion: '0.1.0',
    docString,
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

/**
 * Converts a trained ml-cart DecisionTreeRegression/DecisionTreeClassifier or ml-random-forest
 * RandomForestRegression/RandomForestClassifier (or their `toJSON()`) to ONNX. Input `input` float32 [N, F].
 * Regressors output `variable` [N, 1]; classifiers `label` (int64 [N]) and `probabilities` (float [N, classes]),
 * like the linear and logistic builders.
 */
export function buildTreeEnsembleOnnx(model: TreeModelInput, options: TreeEnsembleOptions): Uint8Array {
  const features = options.features;
  if (!Number.isInteger(features) || features < 1) throw invalidParameter('Tree ensemble needs features >= 1 (input columns)');
  const { classifier, trees } = readModel(model);
  const T = trees.length;
  const input = valueInfo(INPUT_NAME, FLOAT, ['N', features]);

  if (!classifier) {
    const attrs = ensembleAttributes(trees, features, (t, n) => {
      if (typeof n.distribution !== 'number' || !Number.isFinite(n.distribution)) throw invalidParameter(`Tree ${t} has a leaf without a value`);
      return [[0, n.distribution]];
    });
    const graph = onnx.GraphProto.create({
      name: T === 1 ? 'decision_tree_regression' : 'random_forest_regression',
      input: [input],
      output: [valueInfo('variable', FLOAT, ['N', 1])],
      node: [node('TreeEnsembleRegressor', [INPUT_NAME], ['variable'], [...attrs, int('n_targets', 1), str('aggregate_function', 'AVERAGE'), str('post_transform', 'NONE')], 'ai.onnx.ml')],
    });
    return encode(graph, 'Tree ensemble regression built by Flywheel');
  }

  // Classes: the widest leaf distribution (ml-cart sizes each leaf by the largest label it saw).
  let widest = 0;
  const walk = (n: CartNodeJson | undefined): void => {
    if (!n) return;
    if (isLeaf(n)) widest = Math.max(widest, leafDistribution(n).length);
    else { walk(n.left); walk(n.right); }
  };
  trees.forEach((t) => walk(t.root));
  const K = options.classes ?? widest;
  if (!Number.isInteger(K) || K < widest || K < 1) throw invalidParameter(`Tree ensemble classes must be an integer >= ${widest}`);

  // One vote target per (tree, class): tree t's leaf writes 1 to t*K + argmax(distribution).
  const attrs = ensembleAttributes(trees, features, (t, n) => [[t * K + argmax(leafDistribution(n)), 1]]);
  const nodes = [
    node('TreeEnsembleRegressor', [INPUT_NAME], ['votes_flat'], [...attrs, int('n_targets', T * K), str('aggregate_function', 'SUM'), str('post_transform', 'NONE')], 'ai.onnx.ml'),
    node('Reshape', ['votes_flat', 'votes_shape'], ['votes']), // [N, T, K]
    node('ReduceSum', ['votes', 'axis1'], ['counts'], [int('keepdims', 0)]), // [N, K]
    node('Div', ['counts', 'n_trees'], ['probabilities']),
    // Mode with ml-array-mode's tie rule: among classes with the top count, the first to reach it.
    node('ReduceMax', ['counts'], ['top'], [ints('axes', [1]), int('keepdims', 1)]), // [N, 1]
    node('CumSum', ['votes', 'axis1_scalar'], ['running']), // [N, T, K]
    node('Unsqueeze', ['top', 'axis1'], ['top3']), // [N, 1, 1]
    node('GreaterOrEqual', ['running', 'top3'], ['reached_b']),
    node('Cast', ['reached_b'], ['reached'], [int('to', FLOAT)]),
    node('ArgMax', ['reached'], ['first_reach'], [int('axis', 1), int('keepdims', 0)]), // [N, K] int64
    node('Less', ['counts', 'top'], ['not_top']),
    node('Where', ['not_top', 'never', 'first_reach'], ['reach_time']),
    node('ArgMin', ['reach_time'], ['label'], [int('axis', 1), int('keepdims', 0)]), // [N]
  ];
  const graph = onnx.GraphProto.create({
    name: T === 1 ? 'decision_tree_classifier' : 'random_forest_classifier',
    input: [input],
    output: [valueInfo('label', INT64, ['N']), valueInfo('probabilities', FLOAT, ['N', K])],
    initializer: [
      int64Tensor('votes_shape', [3], [-1, T, K]),
      int64Tensor('axis1', [1], [1]),
      int64Tensor('axis1_scalar', [], [1]),
      floatTensor('n_trees', [], [T]),
      int64Tensor('never', [], [T]),
    ],
    node: nodes,
  });
  return encode(graph, 'Tree ensemble classifier built by Flywheel');
}
