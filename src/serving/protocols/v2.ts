/**
 * The Open Inference Protocol v2 (KServe, Triton, Seldon MLServer): health, model metadata and readiness,
 * and `infer` with named tensors. Errors are `{"error": "..."}`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FlywheelError, invalidParameter } from '../../core/index.js';
import { FLYWHEEL_VERSION } from '../../models/index.js';
import { isPlainObject, prepareInputFast, type InputLayout, type RequestData } from '../input.js';
import type { ScoringContext } from '../scoring.js';
import type { ServingModel, TensorMetadata, V2Tensor } from '../serving-model.js';

interface V2Input {
  name: string;
  shape: number[];
  datatype: string;
  data: unknown[];
}

const NUMERIC_V2 = new Set(['FP16', 'FP32', 'FP64', 'INT8', 'INT16', 'INT32', 'INT64', 'UINT8', 'UINT16', 'UINT32', 'UINT64']);
const V2_TYPES = new Set([...NUMERIC_V2, 'BOOL', 'BYTES']);

const notServed = (what: string) => new FlywheelError('RESOURCE_DOES_NOT_EXIST', what);

/** The served model when `name` (and `version`, if given) match it. */
function servedModel(ctx: ScoringContext, params: { name: string; version?: string }): ServingModel {
  const model = ctx.holder.current;
  const id = model.identity;
  if (params.name !== id.name) throw notServed(`Model '${params.name}' is not served here (this server serves '${id.name}')`);
  if (params.version !== undefined && params.version !== (id.version ?? '')) {
    throw notServed(`Version ${params.version} of '${id.name}' is not served here (serving version ${id.version ?? 'none'})`);
  }
  return model;
}

function metadata(model: ServingModel) {
  const id = model.identity;
  return {
    name: id.name,
    versions: id.version ? [id.version] : [],
    platform: model.platform,
    inputs: model.inputsMetadata,
    outputs: model.outputsMetadata,
  };
}

const product = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function flatData(data: unknown[]): unknown[] {
  return data.length > 0 && Array.isArray(data[0]) ? (data as unknown[]).flat(Infinity) : data;
}

/** Checks one v2 input tensor's structure and element types. */
function parseTensor(value: unknown, i: number): V2Input {
  if (!isPlainObject(value)) throw invalidParameter(`inputs[${i}] must be an object with name, shape, datatype and data`);
  const { name, shape, datatype, data } = value;
  if (typeof name !== 'string' || name === '') throw invalidParameter(`inputs[${i}] needs a 'name'`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw invalidParameter(`Input '${name}' needs a 'shape' of non-negative integers`);
  }
  if (typeof datatype !== 'string' || !V2_TYPES.has(datatype)) {
    throw invalidParameter(`Input '${name}' has datatype ${JSON.stringify(datatype)}; use one of ${[...V2_TYPES].join(', ')}`);
  }
  if (!Array.isArray(data)) throw invalidParameter(`Input '${name}' needs 'data' (a list)`);
  const flat = flatData(data);
  if (flat.length !== product(shape)) {
    throw invalidParameter(`Input '${name}' has shape [${shape.join(', ')}], which needs ${product(shape)} values; got ${flat.length}`);
  }
  const check =
    NUMERIC_V2.has(datatype) ? (v: unknown) => typeof v === 'number' || v === null
    : datatype === 'BOOL' ? (v: unknown) => typeof v === 'boolean'
    : (v: unknown) => typeof v === 'string';
  for (let k = 0; k < flat.length; k++) {
    if (!check(flat[k])) throw invalidParameter(`Input '${name}' is ${datatype} but value ${k} is ${JSON.stringify(flat[k])}`);
  }
  return { name, shape: shape as number[], datatype, data: flat };
}

function nest(flat: unknown[], shape: number[]): unknown[] {
  if (shape.length <= 1) return flat;
  const step = product(shape.slice(1));
  return Array.from({ length: shape[0] }, (_, r) => nest(flat.slice(r * step, (r + 1) * step), shape.slice(1)));
}

function checkDatatype(input: V2Input, expected: TensorMetadata | undefined): void {
  if (!expected) return;
  const want = expected.datatype;
  const ok = input.datatype === want || (NUMERIC_V2.has(input.datatype) && NUMERIC_V2.has(want));
  if (!ok) throw invalidParameter(`Input '${input.name}' has datatype ${input.datatype}; the model takes ${want}`);
}

/** v2 tensors → RequestData for the model's layout. */
function requestData(inputs: V2Input[], model: ServingModel): RequestData {
  const layout: InputLayout = model.layout;
  const meta = new Map(model.inputsMetadata.map((m) => [m.name, m]));
  const columnNames = layout.kind === 'matrix' && layout.named ? layout.columns.map((c) => c.name)
    : layout.kind === 'rows' && layout.columns ? layout.columns.map((c) => c.name) : null;
  const seen = new Set<string>();
  for (const t of inputs) {
    if (seen.has(t.name)) throw invalidParameter(`Input '${t.name}' is given twice`);
    seen.add(t.name);
  }
  // One [rows, features] tensor for a model of columns (or an unnamed matrix): rows in signature order.
  if (inputs.length === 1 && (columnNames === null || !columnNames.includes(inputs[0].name))) {
    const [t] = inputs;
    if (layout.kind === 'matrix') {
      const width = layout.columns.length;
      if (!layout.named && !meta.has(t.name)) throw invalidParameter(`Unknown input '${t.name}': the model takes '${model.inputsMetadata[0]?.name}'`);
      if (t.shape.length !== 2 || t.shape[1] !== width) {
        throw invalidParameter(`Input '${t.name}' has shape [${t.shape.join(', ')}]; the model takes [-1, ${width}] (rows × features)`);
      }
      if (!NUMERIC_V2.has(t.datatype)) throw invalidParameter(`Input '${t.name}' has datatype ${t.datatype}; the model takes numbers`);
      return { form: 'positional', rows: nest(t.data, t.shape) };
    }
    if (layout.kind === 'tensors') {
      checkDatatype(t, meta.get(t.name) ?? model.inputsMetadata[0]);
      if (layout.specs && layout.specs.length === 1) return { form: 'positional', rows: nest(t.data, t.shape) };
    }
  }
  if (columnNames) {
    const columns: Record<string, unknown> = {};
    for (const t of inputs) {
      if (!columnNames.includes(t.name)) {
        throw invalidParameter(`Unknown input '${t.name}': the model takes columns ${columnNames.slice(0, 12).join(', ')}${columnNames.length > 12 ? ', …' : ''}`);
      }
      if (t.shape.length > 2 || (t.shape.length === 2 && t.shape[1] !== 1)) {
        throw invalidParameter(`Input '${t.name}' is a column: its shape must be [rows] or [rows, 1], got [${t.shape.join(', ')}]`);
      }
      const col = meta.get(t.name);
      checkDatatype(t, col);
      columns[t.name] = t.data;
    }
    return { form: 'columnar', columns };
  }
  const named: Record<string, unknown> = {};
  for (const t of inputs) {
    checkDatatype(t, meta.get(t.name));
    named[t.name] = nest(t.data, t.shape);
  }
  return { form: 'columnar', columns: named };
}

function parseInfer(body: unknown): { id?: string; inputs: V2Input[]; outputs: string[] | undefined; parameters?: unknown } {
  if (!isPlainObject(body)) throw invalidParameter('The request must be a JSON object with "inputs"');
  if (!Array.isArray(body.inputs) || body.inputs.length === 0) throw invalidParameter('"inputs" must be a non-empty list of tensors');
  const inputs = body.inputs.map(parseTensor);
  let outputs: string[] | undefined;
  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs) || !body.outputs.every((o) => isPlainObject(o) && typeof o.name === 'string')) {
      throw invalidParameter('"outputs" must be a list of {"name": ...}');
    }
    outputs = body.outputs.map((o) => (o as { name: string }).name);
  }
  if (body.id !== undefined && typeof body.id !== 'string') throw invalidParameter('"id" must be a string');
  return { id: body.id as string | undefined, inputs, outputs, parameters: body.parameters };
}

function selectOutputs(tensors: V2Tensor[], wanted: string[] | undefined): V2Tensor[] {
  if (!wanted) return tensors;
  return wanted.map((name) => {
    const t = tensors.find((x) => x.name === name);
    if (!t) throw invalidParameter(`Unknown output '${name}': the model outputs ${tensors.map((x) => x.name).join(', ')}`);
    return t;
  });
}

export function v2Routes(app: FastifyInstance, ctx: ScoringContext): void {
  app.get('/v2', async () => ({ name: 'flywheel', version: FLYWHEEL_VERSION, extensions: [] }));
  app.get('/v2/health/live', async () => ({ live: true }));
  app.get('/v2/health/ready', async (_req, reply) => reply.status(ctx.ready ? 200 : 503).send({ ready: ctx.ready }));

  type Params = { name: string; version?: string };
  const meta = async (req: FastifyRequest) => metadata(servedModel(ctx, req.params as Params));
  app.get('/v2/models/:name', meta);
  app.get('/v2/models/:name/versions/:version', meta);

  const ready = async (req: FastifyRequest, reply: FastifyReply) => {
    const model = servedModel(ctx, req.params as Params);
    return reply.status(ctx.ready ? 200 : 503).send({ name: model.identity.name, ready: ctx.ready });
  };
  app.get('/v2/models/:name/ready', ready);
  app.get('/v2/models/:name/versions/:version/ready', ready);

  const infer = async (req: FastifyRequest, reply: FastifyReply) => {
    servedModel(ctx, req.params as Params);
    const request = parseInfer(req.body);
    const body = await ctx.score(
      req,
      reply,
      'v2',
      (model) => {
        if (request.outputs && model.outputsMetadata.length > 0) {
          const known = model.outputsMetadata.map((o) => o.name);
          for (const name of request.outputs) {
            if (!known.includes(name)) throw invalidParameter(`Unknown output '${name}': the model outputs ${known.join(', ')}`);
          }
        }
        return prepareInputFast(model.layout, requestData(request.inputs, model));
      },
      (model, result) =>
        JSON.stringify({
          model_name: model.identity.name,
          model_version: model.identity.version ?? undefined,
          ...(request.id !== undefined ? { id: request.id } : {}),
          outputs: selectOutputs(result.tensors(), request.outputs),
        }),
    );
    return reply.type('application/json').send(body);
  };
  app.post('/v2/models/:name/infer', infer);
  app.post('/v2/models/:name/versions/:version/infer', infer);
}
