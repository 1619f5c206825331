/**
 * Decodes ONNX bytes before onnxruntime sees them: a file that is not ONNX gets a clear error, and any
 * tensor stored as external data is refused. onnxruntime would resolve external data paths itself
 * (relative to the process, or wherever the location points), which is how ONNX files have read
 * arbitrary local files (CVE-2024-27318); Flywheel models keep all weights inside the .onnx file.
 */
import onnxProto from 'onnx-proto';
import { invalidParameter } from '../../core/index.js';

const { onnx } = onnxProto;
type Graph = onnxProto.onnx.IGraphProto;
type Tensor = onnxProto.onnx.ITensorProto;
type Attribute = onnxProto.onnx.IAttributeProto;

export function decodeOnnxModel(bytes: Uint8Array, label: string): onnxProto.onnx.ModelProto {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw invalidParameter(`'${label}' is not an ONNX model (${(e as Error).message})`);
  }
  if (!model.graph || !model.irVersion || Number(model.irVersion) <= 0) {
    throw invalidParameter(`'${label}' is not an ONNX model (no graph or IR version)`);
  }
  return model;
}

function externalTensor(t: Tensor | null | undefined): string | undefined {
  if (!t) return undefined;
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || (t.externalData?.length ?? 0) > 0) {
    const location = t.externalData?.find((e) => e.key === 'location')?.value;
    return `tensor '${t.name ?? ''}' (location '${location ?? '?'}')`;
  }
  return undefined;
}

function* tensorsOfAttribute(a: Attribute): Generator<Tensor | null | undefined> {
  yield a.t;
  yield* a.tensors ?? [];
  yield a.sparseTensor?.values;
  yield a.sparseTensor?.indices;
  for (const s of a.sparseTensors ?? []) (yield s.values, yield s.indices);
}

function* graphsOfAttribute(a: Attribute): Generator<Graph> {
  if (a.g) yield a.g;
  yield* a.graphs ?? [];
}

function findExternal(graph: Graph, depth = 0): string | undefined {
  if (depth > 64) throw invalidParameter('ONNX model nests subgraphs too deeply');
  const tensors: (Tensor | null | undefined)[] = [...(graph.initializer ?? [])];
  for (const s of graph.sparseInitializer ?? []) tensors.push(s.values, s.indices);
  for (const node of graph.node ?? []) {
    for (const a of node.attribute ?? []) {
      tensors.push(...tensorsOfAttribute(a));
      for (const g of graphsOfAttribute(a)) {
        const found = findExternal(g, depth + 1);
        if (found) return found;
      }
    }
  }
  for (const t of tensors) {
    const found = externalTensor(t);
    if (found) return found;
  }
  return undefined;
}

/** Throws unless every tensor's data is inside the model bytes. */
export function refuseExternalData(model: onnxProto.onnx.ModelProto, label: string): void {
  const graphs: Graph[] = [model.graph!];
  for (const f of model.functions ?? []) {
    for (const node of f.node ?? []) for (const a of node.attribute ?? []) graphs.push(...graphsOfAttribute(a));
  }
  for (const g of graphs) {
    const found = findExternal(g);
    if (found) {
      throw invalidParameter(
        `'${label}' stores ${found} as ONNX external data; Flywheel refuses external data ` +
          '(it can point at files outside the model). Save the model with all tensors inside the .onnx file.',
      );
    }
  }
}
