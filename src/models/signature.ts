/**
 * Model signatures in MLflow's layout (column-based or tensor-based) and their enforcement: predict checks
 * every request against the signature before a flavor sees it, so a bad request is a 400 that names the
 * column, never a crash inside the runtime.
 */
import { invalidParameter } from '../core/index.js';
import type { StoredSignature } from './mlmodel.js';

export const COLUMN_TYPES = ['double', 'float', 'long', 'integer', 'boolean', 'string', 'binary', 'datetime'] as const;
export type ColumnType = (typeof COLUMN_TYPES)[number];

export interface ColSpec {
  type: ColumnType;
  name?: string;
  /** MLflow's default is true. */
  required?: boolean;
}

export interface TensorSpec {
  type: 'tensor';
  name?: string;
  'tensor-spec': { dtype: string; shape: number[] };
}

export interface ParamSpec {
  name: string;
  type: string;
  default: unknown;
  shape?: number[] | null;
}

export type Schema = ColSpec[] | TensorSpec[];

export interface ModelSignature {
  inputs?: Schema | null;
  outputs?: Schema | null;
  params?: ParamSpec[] | null;
}

export type Row = Record<string, unknown>;
/** pandas "split" orient, as sent in `dataframe_split`. */
export interface SplitFrame {
  columns: string[];
  data: unknown[][];
}
export type NestedArray = unknown[];
/** What `predict` accepts: records, a split frame, or tensors (one nested array or a map of them). */
export type ModelInput = Row[] | SplitFrame | NestedArray | Record<string, NestedArray>;

export interface FlatTensor {
  name?: string;
  dtype?: string;
  shape: number[];
  data: unknown[];
}

/** The input after enforcement, in the shape flavors consume. */
export type EnforcedInput =
  | { kind: 'columns'; columns: string[]; rows: Row[] }
  | { kind: 'tensors'; tensors: FlatTensor[] };

export const isTensorSchema = (schema: Schema): schema is TensorSpec[] =>
  schema.length > 0 && schema.every((s) => s.type === 'tensor');

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);

function parseSchema(json: string, part: string): Schema {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw invalidParameter(`signature.${part} is not valid JSON`);
  }
  if (!Array.isArray(value)) throw invalidParameter(`signature.${part} must be a JSON list of column or tensor specs`);
  const specs = value as unknown[];
  for (const [i, spec] of specs.entries()) {
    if (!isPlainObject(spec) || typeof spec.type !== 'string') {
      throw invalidParameter(`signature.${part}[${i}] must be an object with a 'type'`);
    }
    if (spec.name !== undefined && typeof spec.name !== 'string') {
      throw invalidParameter(`signature.${part}[${i}].name must be a string`);
    }
    if (spec.type === 'tensor') {
      const ts = spec['tensor-spec'];
      if (!isPlainObject(ts) || typeof ts.dtype !== 'string' || !Array.isArray(ts.shape) ||
          !ts.shape.every((d) => Number.isInteger(d))) {
        throw invalidParameter(`signature.${part}[${i}] needs a 'tensor-spec' with a dtype and an integer shape`);
      }
    }
  }
  const tensors = specs.filter((s) => (s as ColSpec | TensorSpec).type === 'tensor').length;
  if (tensors > 0 && tensors < specs.length) {
    throw invalidParameter(`signature.${part} mixes tensor and column specs`);
  }
  return specs as Schema;
}

/** Reads the JSON strings stored in MLmodel. */
export function parseSignature(stored: StoredSignature | null | undefined): ModelSignature | undefined {
  if (!stored) return undefined;
  const sig: ModelSignature = {};
  if (stored.inputs) sig.inputs = parseSchema(stored.inputs, 'inputs');
  if (stored.outputs) sig.outputs = parseSchema(stored.outputs, 'outputs');
  if (stored.params) {
    let params: unknown;
    try {
      params = JSON.parse(stored.params);
    } catch {
      throw invalidParameter('signature.params is not valid JSON');
    }
    if (!Array.isArray(params)) throw invalidParameter('signature.params must be a JSON list');
    sig.params = params as ParamSpec[];
  }
  return sig;
}

export function serializeSignature(sig: ModelSignature): StoredSignature {
  return {
    inputs: sig.inputs ? JSON.stringify(sig.inputs) : null,
    outputs: sig.outputs ? JSON.stringify(sig.outputs) : null,
    params: sig.params ? JSON.stringify(sig.params) : null,
  };
}

/** Checks a user-written signature (e.g. passed to saveModel) by round-tripping it through the parser. */
export function validateSignature(sig: ModelSignature): ModelSignature {
  return parseSignature(serializeSignature(sig)) ?? {};
}

const describe = (v: unknown): string => {
  if (v === null) return 'null';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : `number ${v}`;
  if (Array.isArray(v)) return 'a list';
  return `${typeof v} ${typeof v === 'object' ? '' : String(v)}`.trim();
};

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };

function checkColumnValue(value: unknown, spec: ColSpec, name: string, row: number): unknown {
  const fail = () =>
    invalidParameter(`Column '${name}' expects ${spec.type}, got ${describe(value)} (row ${row})`);
  switch (spec.type) {
    case 'double':
    case 'float':
      if (typeof value !== 'number') throw fail();
      return value;
    case 'long':
    case 'integer':
      if (typeof value === 'number' && Number.isNaN(value)) {
        throw invalidParameter(`Column '${name}' expects ${spec.type}; NaN is not allowed for integer columns (row ${row})`);
      }
      if (typeof value !== 'number' || !Number.isInteger(value)) throw fail();
      if (spec.type === 'integer' && (value < INT32.min || value > INT32.max)) throw fail();
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw fail();
      return value;
    case 'string':
      if (typeof value !== 'string') throw fail();
      return value;
    default:
      // binary, datetime and newer MLflow types (array, object) pass through unchecked.
      return value;
  }
}

function rowsFromInput(input: ModelInput): { columns: string[]; rows: Row[] } {
  if (isPlainObject(input) && Array.isArray(input.columns) && Array.isArray(input.data)) {
    const frame = input as unknown as SplitFrame;
    if (!frame.columns.every((c) => typeof c === 'string')) throw invalidParameter('columns must be strings');
    const rows = frame.data.map((r, i) => {
      if (!Array.isArray(r) || r.length !== frame.columns.length) {
        throw invalidParameter(`Row ${i} has ${Array.isArray(r) ? r.length : 'no'} values for ${frame.columns.length} columns`);
      }
      return Object.fromEntries(frame.columns.map((c, j) => [c, r[j]]));
    });
    return { columns: frame.columns, rows };
  }
  if (Array.isArray(input) && input.every(isPlainObject)) {
    const columns: string[] = [];
    const seen = new Set<string>();
    for (const row of input as Row[]) {
      for (const k of Object.keys(row)) if (!seen.has(k)) (seen.add(k), columns.push(k));
    }
    return { columns, rows: input as Row[] };
  }
  throw invalidParameter('This model takes named columns: send a list of records or {columns, data}');
}

function enforceColumns(input: ModelInput, schema: ColSpec[] | undefined): EnforcedInput {
  const { columns, rows } = rowsFromInput(input);
  if (!schema) return { kind: 'columns', columns, rows };
  if (schema.some((s) => s.name === undefined)) {
    // Unnamed column specs match by position (MLflow allows this for list inputs).
    if (columns.length < schema.length) {
      throw invalidParameter(`The model expects ${schema.length} columns, got ${columns.length}`);
    }
  }
  const names = schema.map((s, i) => s.name ?? columns[i]);
  const present = new Set(columns);
  for (const [i, spec] of schema.entries()) {
    const name = names[i];
    if ((spec.required ?? true) && !present.has(name)) throw invalidParameter(`Missing column '${name}'`);
  }
  const checked = rows.map((row, r) =>
    Object.fromEntries(
      schema.map((spec, i) => {
        const name = names[i];
        const value = row[name];
        if (value === undefined || value === null) {
          if (spec.required ?? true) throw invalidParameter(`Missing value for required column '${name}' (row ${r})`);
          return [name, null];
        }
        return [name, checkColumnValue(value, spec, name, r)];
      }),
    ),
  );
  // Extra columns are dropped, as MLflow does.
  return { kind: 'columns', columns: names, rows: checked };
}

/** Shape and flat data of a rectangular nested array. */
export function flattenTensor(value: unknown, label: string): { shape: number[]; data: unknown[] } {
  const shape: number[] = [];
  let probe: unknown = value;
  while (Array.isArray(probe) || ArrayBuffer.isView(probe)) {
    const arr = probe as ArrayLike<unknown>;
    shape.push(arr.length);
    if (arr.length === 0) break;
    probe = arr[0];
  }
  const data: unknown[] = [];
  const walk = (v: unknown, depth: number) => {
    if (depth === shape.length) {
      if (Array.isArray(v)) throw invalidParameter(`Tensor '${label}' is ragged: nesting deeper than ${depth}`);
      data.push(v);
      return;
    }
    if (!(Array.isArray(v) || ArrayBuffer.isView(v)) || (v as ArrayLike<unknown>).length !== shape[depth]) {
      throw invalidParameter(`Tensor '${label}' is ragged: every level must have the same length`);
    }
    for (const x of Array.from(v as ArrayLike<unknown>)) walk(x, depth + 1);
  };
  walk(value, 0);
  return { shape, data };
}

function checkTensor(t: FlatTensor, spec: TensorSpec, label: string): FlatTensor {
  const { dtype, shape } = spec['tensor-spec'];
  if (shape.length !== t.shape.length || shape.some((d, i) => d !== -1 && d !== t.shape[i])) {
    throw invalidParameter(
      `Tensor '${label}' expects shape [${shape.join(', ')}] (-1 = any), got [${t.shape.join(', ')}]`,
    );
  }
  const isInt = /^u?int\d+$/.test(dtype);
  const isFloat = /^float\d*$|^double$/.test(dtype);
  for (const v of t.data) {
    const ok = isFloat ? typeof v === 'number'
      : isInt ? typeof v === 'number' && Number.isInteger(v)
      : dtype === 'bool' ? typeof v === 'boolean'
      : dtype === 'str' || dtype === 'object' ? typeof v === 'string'
      : true;
    if (!ok) throw invalidParameter(`Tensor '${label}' expects ${dtype}, got ${describe(v)}`);
  }
  return { ...t, dtype };
}

function enforceTensors(input: ModelInput, schema: TensorSpec[] | undefined): EnforcedInput {
  if (Array.isArray(input) && (input.length === 0 || !input.every(isPlainObject))) {
    if (schema && schema.length > 1) {
      throw invalidParameter(`The model takes ${schema.length} named tensors: send {${schema.map((s) => s.name).join(', ')}}`);
    }
    const label = schema?.[0]?.name ?? 'input';
    const flat = { name: schema?.[0]?.name, ...flattenTensor(input, label) };
    return { kind: 'tensors', tensors: [schema ? checkTensor(flat, schema[0], label) : flat] };
  }
  if (isPlainObject(input) && Array.isArray(input.columns) && Array.isArray(input.data) && schema?.length === 1) {
    return enforceTensors((input as unknown as SplitFrame).data, schema);
  }
  if (isPlainObject(input)) {
    const named = input as Record<string, unknown>;
    const specs = schema ?? Object.keys(named).map((name) => ({ type: 'tensor', name }) as TensorSpec);
    const tensors = specs.map((spec, i) => {
      const name = spec.name ?? Object.keys(named)[i];
      if (!(name in named)) throw invalidParameter(`Missing input tensor '${name}'`);
      const flat = { name, ...flattenTensor(named[name], name) };
      return schema ? checkTensor(flat, spec, name) : flat;
    });
    return { kind: 'tensors', tensors };
  }
  throw invalidParameter('This model takes tensors: send a nested array or an object of named nested arrays');
}

/**
 * Checks `input` against the signature's inputs and returns it in a canonical shape. Column signatures
 * reorder columns into signature order and drop extra ones; tensor signatures check dtype and shape.
 * With no signature the input passes through, its kind guessed from its shape.
 */
export function enforceSignature(input: ModelInput, signature: ModelSignature | undefined): EnforcedInput {
  if (input === null || typeof input !== 'object') {
    throw invalidParameter('Model input must be a list of records, {columns, data}, or tensors');
  }
  const schema = signature?.inputs ?? undefined;
  if (schema && schema.length > 0) {
    return isTensorSchema(schema) ? enforceTensors(input, schema) : enforceColumns(input, schema as ColSpec[]);
  }
  const looksColumnar =
    (Array.isArray(input) && input.length > 0 && input.every(isPlainObject)) ||
    (isPlainObject(input) && Array.isArray(input.columns) && Array.isArray(input.data));
  return looksColumnar ? enforceColumns(input, undefined) : enforceTensors(input, undefined);
}
