/**
 * Scoring input: the request body in protocol-neutral form (`RequestData`), checked against the model's
 * signature and turned into what the model runs (`PreparedInput`). Everything that can be wrong with a
 * request is found here, before batching, so a bad request never fails the others in its batch. Errors
 * name the column (or tensor) and the row.
 */
import { FlywheelError, invalidParameter } from '../core/index.js';
import {
  enforceSignature, type ColSpec, type ColumnType, type ModelInput, type ModelSignature, type Row, type TensorSpec,
} from '../models/index.js';

export interface ColumnInfo {
  name: string;
  type: ColumnType;
  required: boolean;
}

/** How a model takes its input, decided once when it loads. */
export type InputLayout =
  /** Numeric columns (or an unnamed numeric matrix) fed as one [rows, width] tensor: the fast path. */
  | { kind: 'matrix'; columns: ColumnInfo[]; named: boolean }
  /** Named columns of any type, run by the model loader (js models, ONNX models with several inputs). */
  | { kind: 'rows'; columns: ColumnInfo[] | null; signature: ModelSignature | undefined }
  /** Tensors (a tensor signature, or none), run by the model loader one request at a time. */
  | { kind: 'tensors'; signature: ModelSignature | undefined; specs: TensorSpec[] | null };

/** A request body after protocol parsing, before the signature. */
export type RequestData =
  | { form: 'split'; columns: unknown[] | undefined; data: unknown[] }
  | { form: 'records'; records: unknown[] }
  /** A list of rows (lists) or of scalars: `instances`/`inputs` as lists, a v2 tensor. */
  | { form: 'positional'; rows: unknown[] }
  /** `{name: values}` (`inputs` as an object, v2 tensors named after columns). */
  | { form: 'columnar'; columns: Record<string, unknown> }
  | { form: 'csv'; columns: string[]; rows: string[][] };

export type PreparedInput =
  | { kind: 'matrix'; rows: number; values: Float64Array }
  | { kind: 'rows'; rows: number; records: Row[] }
  | { kind: 'tensors'; rows: number; input: ModelInput };

export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const NUMERIC: ReadonlySet<string> = new Set(['double', 'float', 'long', 'integer']);
export const isNumericType = (t: string) => NUMERIC.has(t);
const isIntegerType = (t: string) => t === 'long' || t === 'integer';
/** NaN (or null) is a value only in an optional float column; everywhere else it is a missing value. */
const nanAllowed = (c: ColumnInfo) => !c.required && (c.type === 'double' || c.type === 'float');

export function columnsOf(signature: ModelSignature | undefined): ColumnInfo[] | null {
  const inputs = signature?.inputs;
  if (!inputs || inputs.length === 0 || inputs.some((s) => s.type === 'tensor')) return null;
  return (inputs as ColSpec[]).map((s, i) => ({ name: s.name ?? String(i), type: s.type, required: s.required ?? true }));
}

const describe = (v: unknown): string => {
  if (v === null) return 'null';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : `number ${v}`;
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
};

const listNames = (cols: ColumnInfo[]) =>
  cols.length <= 12 ? cols.map((c) => c.name).join(', ') : `${cols.slice(0, 12).map((c) => c.name).join(', ')}, … (${cols.length} in all)`;

const badRequest = (message: string) => new FlywheelError('BAD_REQUEST', message);

function unknownColumn(name: unknown, cols: ColumnInfo[]): FlywheelError {
  return invalidParameter(`Unknown column '${String(name)}': the model takes ${listNames(cols)}`);
}

function missingColumn(col: ColumnInfo): FlywheelError {
  return invalidParameter(`Missing column '${col.name}' (${col.type}): the model requires it`);
}

function noValue(col: ColumnInfo, v: unknown, row: number): FlywheelError {
  const what = v === undefined ? 'no value' : v === null ? 'null' : 'NaN';
  return invalidParameter(
    `Column '${col.name}' has ${what} in row ${row}: NaN and null are allowed only in optional float/double columns`,
  );
}

const wrongType = (col: ColumnInfo, v: unknown, row: number) =>
  invalidParameter(`Column '${col.name}' expects ${col.type}, got ${describe(v)} (row ${row})`);

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** Checks one numeric value and writes it; NaN/null follow the column's NaN rule. */
function putNumber(out: Float64Array, pos: number, v: unknown, col: ColumnInfo, row: number): void {
  if (typeof v === 'number' && v === v) {
    if (isIntegerType(col.type)) {
      if (!Number.isInteger(v) || (col.type === 'integer' && (v < INT32_MIN || v > INT32_MAX))) throw wrongType(col, v, row);
    }
    out[pos] = v;
    return;
  }
  if (v === null || v === undefined || typeof v === 'number') {
    if (nanAllowed(col)) {
      out[pos] = NaN;
      return;
    }
    throw noValue(col, v, row);
  }
  throw wrongType(col, v, row);
}

const SCRATCH = new Float64Array(1);

/** Checks a value of a non-matrix column (the loader converts it); returns it unchanged. */
function checkValue(v: unknown, col: ColumnInfo, row: number): unknown {
  if (isNumericType(col.type)) {
    putNumber(SCRATCH, 0, v, col, row);
    return v;
  }
  if (v === null || v === undefined) {
    if (!col.required) return null;
    throw noValue(col, v, row);
  }
  if (col.type === 'boolean' && typeof v !== 'boolean') throw wrongType(col, v, row);
  if (col.type === 'string' && typeof v !== 'string') throw wrongType(col, v, row);
  return v;
}

function csvValue(text: string, col: ColumnInfo): unknown {
  if (isNumericType(col.type)) {
    if (text === '' || text === 'NaN' || text === 'nan') return NaN;
    const n = Number(text);
    return Number.isNaN(n) ? text : n;
  }
  if (col.type === 'boolean') return text === 'True' || text === 'true' ? true : text === 'False' || text === 'false' ? false : text === '' ? null : text;
  return text === '' && !col.required ? null : text;
}

/** Maps header names to column indexes: unknown and duplicate names are errors; missing required too. */
function columnIndexes(header: unknown[], cols: ColumnInfo[], index: Map<string, number>): number[] {
  const seen = new Set<number>();
  const out = header.map((name) => {
    const j = typeof name === 'string' ? index.get(name) : undefined;
    if (j === undefined) throw unknownColumn(name, cols);
    if (seen.has(j)) throw invalidParameter(`Column '${String(name)}' is given twice`);
    seen.add(j);
    return j;
  });
  for (const [j, col] of cols.entries()) if (!seen.has(j) && !nanAllowed(col)) throw missingColumn(col);
  return out;
}

function rowCountCheck(row: unknown, width: number, r: number, cols: ColumnInfo[] | null): unknown[] {
  if (!Array.isArray(row)) throw invalidParameter(`Row ${r} must be a list of ${width} values, got ${describe(row)}`);
  if (row.length !== width) {
    const what = cols ? `the model takes ${width} columns (${listNames(cols)})` : `expected ${width}`;
    throw invalidParameter(`Row ${r} has ${row.length} values; ${what}`);
  }
  return row;
}

/** The fast path: one Float64Array of rows × columns in signature order. */
class MatrixFiller {
  readonly width: number;
  private readonly index = new Map<string, number>();
  /** Columns where any finite number goes straight in (float/double): the hot loop skips the checks. */
  private readonly plain: boolean[];
  constructor(private readonly cols: ColumnInfo[], private readonly named: boolean) {
    this.width = cols.length;
    cols.forEach((c, j) => this.index.set(c.name, j));
    this.plain = cols.map((c) => c.type === 'double' || c.type === 'float');
  }

  /** Columns the request left out (optional float columns) are NaN. */
  private missingToNaN(out: Float64Array, present: Set<number> | number[], rows: number): void {
    const has = present instanceof Set ? present : new Set(present);
    for (let j = 0; j < this.width; j++) {
      if (has.has(j)) continue;
      for (let r = 0; r < rows; r++) out[r * this.width + j] = NaN;
    }
  }

  fill(data: RequestData): PreparedInput {
    const { width, cols } = this;
    switch (data.form) {
      case 'split': {
        if (data.columns === undefined || !this.named) return this.fill({ form: 'positional', rows: data.data });
        const idx = columnIndexes(data.columns, cols, this.index);
        const n = data.data.length;
        const out = new Float64Array(n * width);
        if (idx.length < width) this.missingToNaN(out, idx, n);
        const plain = this.plain;
        for (let r = 0; r < n; r++) {
          const row = rowCountCheck(data.data[r], idx.length, r, null);
          const base = r * width;
          for (let k = 0; k < idx.length; k++) {
            const j = idx[k];
            const v = row[k];
            if (typeof v === 'number' && v === v && plain[j]) out[base + j] = v;
            else putNumber(out, base + j, v, cols[j], r);
          }
        }
        return { kind: 'matrix', rows: n, values: out };
      }
      case 'records': {
        if (!this.named) throw invalidParameter('This model has no column names in its signature: send rows as lists (instances or inputs)');
        const n = data.records.length;
        const out = new Float64Array(n * width);
        for (let r = 0; r < n; r++) {
          const rec = data.records[r];
          if (!isPlainObject(rec)) throw invalidParameter(`Record ${r} must be an object of column values, got ${describe(rec)}`);
          let count = 0;
          for (const key in rec) {
            if (!this.index.has(key)) throw unknownColumn(key, cols);
            count++;
          }
          const base = r * width;
          for (let j = 0; j < width; j++) {
            const v = rec[cols[j].name];
            if (typeof v === 'number' && v === v && this.plain[j]) {
              out[base + j] = v;
              continue;
            }
            if (v === undefined && count < width && !nanAllowed(cols[j])) throw missingColumn(cols[j]);
            putNumber(out, base + j, v, cols[j], r);
          }
        }
        return { kind: 'matrix', rows: n, values: out };
      }
      case 'positional': {
        const n = data.rows.length;
        const out = new Float64Array(n * width);
        if (n > 0 && !Array.isArray(data.rows[0]) && width === 1) {
          for (let r = 0; r < n; r++) putNumber(out, r, data.rows[r], cols[0], r);
          return { kind: 'matrix', rows: n, values: out };
        }
        if (n > 0 && isPlainObject(data.rows[0])) return this.fill({ form: 'records', records: data.rows });
        const plain = this.plain;
        for (let r = 0; r < n; r++) {
          const row = rowCountCheck(data.rows[r], width, r, this.named ? cols : null);
          const base = r * width;
          for (let j = 0; j < width; j++) {
            const v = row[j];
            if (typeof v === 'number' && v === v && plain[j]) out[base + j] = v;
            else putNumber(out, base + j, v, cols[j], r);
          }
        }
        return { kind: 'matrix', rows: n, values: out };
      }
      case 'columnar': {
        if (!this.named) throw invalidParameter('This model has no column names in its signature: send rows as lists');
        const names = Object.keys(data.columns);
        const idx = columnIndexes(names, cols, this.index);
        const lists = names.map((name) => {
          const v = data.columns[name];
          if (!Array.isArray(v)) throw invalidParameter(`Column '${name}' must be a list of values, got ${describe(v)}`);
          return v;
        });
        const n = lists.length ? lists[0].length : 0;
        lists.forEach((l, k) => {
          if (l.length !== n) throw invalidParameter(`Column '${names[k]}' has ${l.length} values; '${names[0]}' has ${n}`);
        });
        const out = new Float64Array(n * width);
        if (idx.length < width) this.missingToNaN(out, idx, n);
        for (let k = 0; k < idx.length; k++) {
          const j = idx[k];
          const list = lists[k];
          for (let r = 0; r < n; r++) {
            let v = list[r];
            // A column of one-element rows ([[1], [2]]) is a column too.
            if (Array.isArray(v) && v.length === 1) v = v[0];
            putNumber(out, r * width + j, v, cols[j], r);
          }
        }
        return { kind: 'matrix', rows: n, values: out };
      }
      case 'csv': {
        const { columns, rows } = dropPandasIndex(data);
        if (!this.named) return this.fill({ form: 'positional', rows: rows.map((row) => row.map((t) => csvValue(t, cols[0]))) });
        const idx = columnIndexes(columns, cols, this.index);
        const out = new Float64Array(rows.length * width);
        if (idx.length < width) this.missingToNaN(out, idx, rows.length);
        for (let r = 0; r < rows.length; r++) {
          for (let k = 0; k < idx.length; k++) {
            const col = cols[idx[k]];
            putNumber(out, r * width + idx[k], csvValue(rows[r][k], col), col, r);
          }
        }
        return { kind: 'matrix', rows: rows.length, values: out };
      }
    }
  }
}

/** pandas writes its index as a first column with an empty name. */
function dropPandasIndex(data: { columns: string[]; rows: string[][] }): { columns: string[]; rows: string[][] } {
  if (data.columns[0] !== '') return data;
  return { columns: data.columns.slice(1), rows: data.rows.map((r) => r.slice(1)) };
}

/** Records from any columnar form, for models run by the loader. */
function toRecords(data: RequestData, cols: ColumnInfo[] | null): Row[] {
  switch (data.form) {
    case 'records':
      return data.records.map((rec, r) => {
        if (!isPlainObject(rec)) throw invalidParameter(`Record ${r} must be an object of column values, got ${describe(rec)}`);
        return rec;
      });
    case 'split': {
      const header = data.columns ?? cols?.map((c) => c.name);
      if (!header) throw invalidParameter("dataframe_split needs 'columns' for this model");
      return data.data.map((row, r) => {
        const values = rowCountCheck(row, header.length, r, null);
        const rec: Row = {};
        header.forEach((name, k) => (rec[String(name)] = values[k]));
        return rec;
      });
    }
    case 'positional': {
      if (data.rows.length > 0 && isPlainObject(data.rows[0])) return toRecords({ form: 'records', records: data.rows }, cols);
      if (!cols) throw invalidParameter('This model has no signature: send records (objects of column values)');
      return data.rows.map((row, r) => {
        const values = cols.length === 1 && !Array.isArray(row) ? [row] : rowCountCheck(row, cols.length, r, cols);
        const rec: Row = {};
        cols.forEach((c, j) => (rec[c.name] = values[j]));
        return rec;
      });
    }
    case 'columnar': {
      const names = Object.keys(data.columns);
      const lists = names.map((name) => {
        const v = data.columns[name];
        if (!Array.isArray(v)) throw invalidParameter(`Column '${name}' must be a list of values, got ${describe(v)}`);
        return v;
      });
      const n = lists.length ? lists[0].length : 0;
      lists.forEach((l, k) => {
        if (l.length !== n) throw invalidParameter(`Column '${names[k]}' has ${l.length} values; '${names[0]}' has ${n}`);
      });
      return Array.from({ length: n }, (_, r) => {
        const rec: Row = {};
        names.forEach((name, k) => (rec[name] = lists[k][r]));
        return rec;
      });
    }
    case 'csv': {
      const { columns, rows } = dropPandasIndex(data);
      const byName = new Map((cols ?? []).map((c) => [c.name, c]));
      return rows.map((row) => {
        const rec: Row = {};
        columns.forEach((name, k) => {
          const col = byName.get(name);
          rec[name] = col ? csvValue(row[k], col) : row[k];
        });
        return rec;
      });
    }
  }
}

function checkRecords(records: Row[], cols: ColumnInfo[]): Row[] {
  const known = new Set(cols.map((c) => c.name));
  return records.map((rec, r) => {
    for (const key in rec) if (!known.has(key)) throw unknownColumn(key, cols);
    const out: Row = {};
    for (const col of cols) {
      const v = rec[col.name];
      if (v === undefined && col.required) throw missingColumn(col);
      out[col.name] = checkValue(v, col, r);
    }
    return out;
  });
}

function toTensorInput(data: RequestData): ModelInput {
  switch (data.form) {
    case 'positional':
      return data.rows;
    case 'columnar':
      return data.columns as Record<string, unknown[]>;
    case 'split':
      return data.columns ? { columns: data.columns as string[], data: data.data as unknown[][] } : data.data;
    case 'records':
      return data.records as Row[];
    case 'csv':
      return dropPandasIndex(data).rows.map((row) => row.map((t) => (t === '' ? NaN : Number(t))));
  }
}

function firstDim(input: ModelInput): number {
  if (Array.isArray(input)) return input.length;
  if (isPlainObject(input) && Array.isArray(input.data)) return input.data.length;
  const first = isPlainObject(input) ? Object.values(input)[0] : undefined;
  return Array.isArray(first) ? first.length : 1;
}

/** Prepares (and fully checks) a request for a model of this layout. */
export function prepareInput(layout: InputLayout, data: RequestData): PreparedInput {
  switch (layout.kind) {
    case 'matrix':
      return new MatrixFiller(layout.columns, layout.named).fill(data);
    case 'rows': {
      const records = toRecords(data, layout.columns);
      const checked = layout.columns ? checkRecords(records, layout.columns) : records;
      // The loader's own check (types it knows better, e.g. binary), before batching.
      if (layout.signature) enforceSignature(checked, layout.signature);
      return { kind: 'rows', rows: checked.length, records: checked };
    }
    case 'tensors': {
      const input = toTensorInput(data);
      enforceSignature(input, layout.signature);
      return { kind: 'tensors', rows: firstDim(input), input };
    }
  }
}

/** A cache of fillers, one per layout (columns are fixed for a loaded model). */
const fillers = new WeakMap<InputLayout, MatrixFiller>();
export function prepareInputFast(layout: InputLayout, data: RequestData): PreparedInput {
  if (layout.kind !== 'matrix') return prepareInput(layout, data);
  let f = fillers.get(layout);
  if (!f) fillers.set(layout, (f = new MatrixFiller(layout.columns, layout.named)));
  return f.fill(data);
}

/** The MLflow scoring body (`dataframe_split`, `dataframe_records`, `instances`, `inputs`) as RequestData. */
export function mlflowRequestData(body: unknown): { data: RequestData; params: Record<string, unknown> | undefined } {
  const KEYS = ['dataframe_split', 'dataframe_records', 'instances', 'inputs'];
  if (!isPlainObject(body)) {
    throw badRequest(`The input must be a JSON dictionary with exactly one of the input fields {${KEYS.join(', ')}}. Received ${describe(body)}.`);
  }
  let key: string | undefined;
  let count = 0;
  for (const k of KEYS) if (k in body) (key = k), count++;
  if (count !== 1 || key === undefined) {
    const got = Object.keys(body).slice(0, 10).join(', ') || 'none';
    throw badRequest(`The input must be a JSON dictionary with exactly one of the input fields {${KEYS.join(', ')}}. Received keys: ${got}.`);
  }
  const params = body.params;
  if (params !== undefined && !isPlainObject(params)) throw badRequest("'params' must be a JSON object");
  const value = body[key];
  switch (key) {
    case 'dataframe_split': {
      if (!isPlainObject(value) || !Array.isArray(value.data)) {
        throw badRequest("'dataframe_split' must be an object with 'columns' and 'data' (pandas split orient)");
      }
      if (value.columns !== undefined && !Array.isArray(value.columns)) throw badRequest("'dataframe_split.columns' must be a list");
      return { data: { form: 'split', columns: value.columns as unknown[] | undefined, data: value.data }, params };
    }
    case 'dataframe_records':
      if (!Array.isArray(value)) throw badRequest("'dataframe_records' must be a list of records");
      return { data: { form: 'records', records: value }, params };
    default:
      if (Array.isArray(value)) return { data: { form: 'positional', rows: value }, params };
      if (isPlainObject(value)) return { data: { form: 'columnar', columns: value }, params };
      throw badRequest(`'${key}' must be a list of rows or an object of named values, got ${describe(value)}`);
  }
}
