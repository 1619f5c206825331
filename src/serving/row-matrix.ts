/**
 * A request's input rows as the fast path holds them (one Float64Array, rows × width, in signature order),
 * and their JSON in the inference log's shape (`[{"f0": 0.5, …}, …]`, or `[{"input": [0.5, …]}, …]` for an
 * unnamed matrix). The same writer runs on the event loop and, as source text, in the JSONL worker thread
 * (`MATRIX_ROWS_JSON_SOURCE`): keep the two identical (a test compares them).
 */
export interface RowMatrix {
  values: Float64Array;
  rows: number;
  width: number;
  /** Column names (one row object per row), or null: `{[inputName]: [row values]}`. */
  names: string[] | null;
  inputName: string;
}

/**
 * Plain row objects through the native `JSON.stringify` are 2–3× faster than concatenating number strings
 * (and NaN becomes null as JSON does); objects made by a generated literal (one shape, no key-by-key
 * transitions) another 1.5×. The time left is V8 turning 30,000 doubles into text.
 */
export function matrixRowsJson(m: RowMatrix): string {
  const { values, rows, width, names, inputName } = m;
  const out = new Array(rows);
  const make = names === null ? undefined : rowMaker(names);
  for (let r = 0; r < rows; r++) {
    const base = r * width;
    if (names === null) out[r] = { [inputName]: Array.from(values.subarray(base, base + width)) };
    else if (make) out[r] = make(values, base);
    else {
      const rec: Record<string, number> = {};
      for (let j = 0; j < width; j++) rec[names[j]] = values[base + j];
      out[r] = rec;
    }
  }
  return JSON.stringify(out);
}

type RowMaker = (values: Float64Array, base: number) => Record<string, number>;
const makers = new Map<string, RowMaker | null>();

/**
 * `(values, base) => ({"f0": values[base], "f1": values[base + 1], …})`, made once per column list. The
 * names are written as JSON string literals (valid JavaScript string literals); `__proto__` (which a
 * literal would not make an own key) falls back to the plain loop.
 */
function rowMaker(names: string[]): RowMaker | undefined {
  const key = names.join('\u0000');
  let make = makers.get(key);
  if (make === undefined) {
    make = names.includes('__proto__') || names.length > 10_000
      ? null
      : (new Function('v', 'b', `return {${names.map((n, j) => `${JSON.stringify(n)}: v[b + ${j}]`).join(', ')}};`) as RowMaker);
    if (makers.size > 64) makers.clear();
    makers.set(key, make);
  }
  return make ?? undefined;
}

/** `matrixRowsJson` as plain JavaScript for the worker thread (no TypeScript, no imports). */
export const MATRIX_ROWS_JSON_SOURCE = `
const makers = new Map();
function rowMaker(names) {
  const key = names.join('\\u0000');
  let make = makers.get(key);
  if (make === undefined) {
    make = names.includes('__proto__') || names.length > 10000
      ? null
      : new Function('v', 'b', 'return {' + names.map((n, j) => JSON.stringify(n) + ': v[b + ' + j + ']').join(', ') + '};');
    if (makers.size > 64) makers.clear();
    makers.set(key, make);
  }
  return make === null ? undefined : make;
}
function matrixRowsJson(m) {
  const { values, rows, width, names, inputName } = m;
  const out = new Array(rows);
  const make = names === null ? undefined : rowMaker(names);
  for (let r = 0; r < rows; r++) {
    const base = r * width;
    if (names === null) out[r] = { [inputName]: Array.from(values.subarray(base, base + width)) };
    else if (make) out[r] = make(values, base);
    else {
      const rec = {};
      for (let j = 0; j < width; j++) rec[names[j]] = values[base + j];
      out[r] = rec;
    }
  }
  return JSON.stringify(out);
}`;
