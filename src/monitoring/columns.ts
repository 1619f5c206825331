/**
 * How monitoring sees data: named columns of values (a window of the inference log, a training set), each
 * numeric, categorical, boolean or free text. Rows convert to columns once; every statistic then reads arrays.
 */

export type ColumnType = 'numeric' | 'categorical' | 'boolean' | 'text';

/** A column's values: a Float64Array for numbers (NaN = missing) or any array of values. */
export type ColumnValues = Float64Array | ArrayLike<unknown>;

/** A window or data set, column by column; every column has the same length. */
export type Columns = Record<string, ColumnValues>;

/** Column types given by the caller (the model signature, say); columns not named are inferred. */
export type Schema = Record<string, ColumnType>;

/** Strings with more distinct values than this, and longer on average than TEXT_MIN_LENGTH, are free text. */
const TEXT_MIN_DISTINCT = 1000;
const TEXT_MIN_LENGTH = 30;

/** null, undefined, NaN and ±Infinity are missing (Evidently also drops infinities before testing). */
export function isMissing(v: unknown): boolean {
  return v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v));
}

/** The key a categorical value is counted under: booleans and numbers as their string form. */
export function categoryKey(v: unknown): string {
  return typeof v === 'string' ? v : String(v);
}

/**
 * numeric when every present value is a number, boolean when every one is a boolean, text for strings with
 * many long distinct values, categorical otherwise (mixed types included). A column with no present value
 * is numeric (it has nothing to count either way).
 */
export function inferColumnType(values: ColumnValues): ColumnType {
  if (values instanceof Float64Array) return 'numeric';
  let numbers = 0, booleans = 0, strings = 0, others = 0, length = 0;
  const distinct = new Set<string>();
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (isMissing(v)) continue;
    if (typeof v === 'number') numbers++;
    else if (typeof v === 'boolean') booleans++;
    else if (typeof v === 'string') {
      strings++;
      length += v.length;
      if (distinct.size <= TEXT_MIN_DISTINCT) distinct.add(v);
    } else others++;
  }
  const present = numbers + booleans + strings + others;
  if (present === numbers) return 'numeric';
  if (present === booleans) return 'boolean';
  if (present === strings && distinct.size > TEXT_MIN_DISTINCT && length / strings > TEXT_MIN_LENGTH) return 'text';
  return 'categorical';
}

/** Rows (objects keyed by column) to columns; a key absent from a row is a missing value there. */
export function columnsFromRows(rows: readonly Record<string, unknown>[], names?: readonly string[]): Columns {
  const keys = names ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const out: Columns = {};
  for (const key of keys) {
    let numeric = true;
    for (const r of rows) {
      const v = r[key];
      if (!(typeof v === 'number' || v === null || v === undefined)) { numeric = false; break; }
    }
    if (numeric) {
      const col = new Float64Array(rows.length);
      for (let i = 0; i < rows.length; i++) {
        const v = rows[i][key];
        col[i] = typeof v === 'number' ? v : NaN;
      }
      out[key] = col;
    } else {
      out[key] = rows.map((r) => r[key]);
    }
  }
  return out;
}

/** Row count of a set of columns (the longest column; they should agree). */
export function columnsLength(columns: Columns): number {
  let n = 0;
  for (const values of Object.values(columns)) n = Math.max(n, values.length);
  return n;
}
