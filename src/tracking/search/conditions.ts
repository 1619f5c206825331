import { invalidParameter } from '../../core/errors.js';
import type { RawClause } from './syntax.js';

/** What one clause asks of one field, after validation. */
export type NumericOp = '=' | '!=' | '<' | '<=' | '>' | '>=';
export type StringOp = '=' | '!=' | 'LIKE' | 'ILIKE';
export type ListOp = 'IN' | 'NOT IN';
export type NullOp = 'IS NULL' | 'IS NOT NULL';

export type Condition =
  | { kind: 'number'; op: NumericOp; value: number }
  | { kind: 'string'; op: StringOp; value: string }
  | { kind: 'list'; op: ListOp; value: string[] }
  | { kind: 'null'; op: NullOp };

export const NUMERIC_OPS: readonly NumericOp[] = ['=', '!=', '<', '<=', '>', '>='];
export const STRING_OPS: readonly StringOp[] = ['=', '!=', 'LIKE', 'ILIKE'];
export const LIST_OPS: readonly ListOp[] = ['IN', 'NOT IN'];
export const NULL_OPS: readonly NullOp[] = ['IS NULL', 'IS NOT NULL'];

/** Longest LIKE/ILIKE pattern: SQLite refuses GLOB patterns over 50,000 bytes. */
export const MAX_PATTERN_LENGTH = 10_000;

/** How one searchable field may be compared. */
export interface FieldSpec {
  type: 'number' | 'string';
  /** Comparators allowed, in the order the error message lists them (may include IN / IS NULL forms). */
  ops: readonly string[];
  /** Message when the value has the wrong type; gets the value as written. */
  valueError: (raw: string) => string;
  /** Message when a list is given to a field without IN / NOT IN. */
  listError?: string;
}

/** Python's rendering of a list of strings, as MLflow's messages show it: `['a', 'b']`. */
export const pyList = (items: readonly string[]) => `[${items.map((i) => `'${i}'`).join(', ')}]`;
/** Python's rendering of a set of strings: `{'a', 'b'}`. */
export const pySet = (items: readonly string[]) => `{${items.map((i) => `'${i}'`).join(', ')}}`;

function checkOp(op: string, allowed: readonly string[]): void {
  if (!allowed.includes(op)) throw invalidParameter(`Invalid comparator '${op}' not one of '${pySet(allowed)}'`);
}

/**
 * Checks a clause's comparator and value against a field, in MLflow's order: the value's type first,
 * then the comparator.
 */
export function validateCondition(clause: RawClause, spec: FieldSpec): Condition {
  const { op, value } = clause;
  const listOps = spec.ops.filter((o): o is ListOp => (LIST_OPS as readonly string[]).includes(o));
  if (value === undefined) {
    checkOp(op, spec.ops);
    return { kind: 'null', op: op as NullOp };
  }
  if (value.kind === 'list') {
    if (listOps.length === 0) throw invalidParameter(spec.listError ?? spec.valueError(value.raw));
    checkOp(op, spec.ops);
    if (!(LIST_OPS as readonly string[]).includes(op)) {
      throw invalidParameter(`Invalid comparator '${op}' for a list of values; use one of '${pySet(listOps)}'`);
    }
    return { kind: 'list', op: op as ListOp, value: value.items };
  }
  if (value.kind !== spec.type) throw invalidParameter(spec.valueError(value.raw));
  checkOp(op, spec.ops);
  if ((LIST_OPS as readonly string[]).includes(op)) {
    throw invalidParameter(
      `Comparator '${op}' expects a list of quoted string values such as ('a', 'b'); got ${value.raw}`,
    );
  }
  if (value.kind === 'number') return { kind: 'number', op: op as NumericOp, value: value.value };
  if (value.kind === 'string') {
    if ((op === 'LIKE' || op === 'ILIKE') && value.value.length > MAX_PATTERN_LENGTH) {
      throw invalidParameter(`${op} pattern is longer than ${MAX_PATTERN_LENGTH} characters`);
    }
    return { kind: 'string', op: op as StringOp, value: value.value };
  }
  throw new Error('unreachable: value kind');
}

/** Common field specs. */
export const stringField = (
  ops: readonly string[],
  valueError: (raw: string) => string,
  listError?: string,
): FieldSpec => ({
  type: 'string',
  ops,
  valueError,
  listError,
});

export const numberField = (ops: readonly string[], valueError: (raw: string) => string): FieldSpec => ({
  type: 'number',
  ops,
  valueError,
});
