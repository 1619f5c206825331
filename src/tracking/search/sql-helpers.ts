import { sql, type RawBuilder, type SqlBool } from 'kysely';
import type { StoreDialect } from '../../store/index.js';
import type { Condition } from './conditions.js';
import { postgresLikePattern, sqliteGlobPattern } from './like.js';

/**
 * SQL fragments shared by the searches. Every value from a request is a bound parameter; the only SQL text
 * written here is fixed (operators, keywords), and column/table names come from the callers' own constants.
 */
export type Predicate = RawBuilder<SqlBool>;
// Any SQL expression usable as an operand (a column reference, a function call).
export type Operand = RawBuilder<unknown> | ReturnType<typeof sql.ref>;

const TRUE: Predicate = sql<SqlBool>`1 = 1`;
const FALSE: Predicate = sql<SqlBool>`1 = 0`;

/** Lists longer than this travel as one parameter (a JSON array / a PostgreSQL array), not one each. */
const INLINE_LIST_MAX = 50;

export function and(predicates: Predicate[]): Predicate {
  return predicates.length === 0 ? TRUE : sql<SqlBool>`${sql.join(predicates, sql` and `)}`;
}

/** `col IN (…)` for a non-empty or empty list of strings or integers. */
export function inList(
  dialect: StoreDialect,
  col: Operand,
  values: readonly (string | number)[],
  type: 'text' | 'integer',
): Predicate {
  if (values.length === 0) return FALSE;
  if (values.length <= INLINE_LIST_MAX) return sql<SqlBool>`${col} in (${sql.join(values as unknown[])})`;
  if (dialect === 'sqlite') {
    return sql<SqlBool>`${col} in (select value from json_each(${JSON.stringify(values)}))`;
  }
  return type === 'text'
    ? sql<SqlBool>`${col} = any(cast(${[...values]} as text[]))`
    : sql<SqlBool>`${col} = any(cast(${[...values]} as integer[]))`;
}

/** A numeric operand; on PostgreSQL a non-integer compared with a bigint column is cast to double. */
function numberParam(dialect: StoreDialect, value: number, column: 'double' | 'bigint'): RawBuilder<unknown> {
  if (dialect === 'postgres' && column === 'bigint' && !Number.isSafeInteger(value)) {
    return sql`cast(${value} as double precision)`;
  }
  return sql`${value}`;
}

export function compareNumber(
  dialect: StoreDialect,
  col: Operand,
  cond: Extract<Condition, { kind: 'number' }>,
  column: 'double' | 'bigint',
): Predicate {
  const v = numberParam(dialect, cond.value, column);
  switch (cond.op) {
    case '=':
      return sql<SqlBool>`${col} = ${v}`;
    case '!=':
      return sql<SqlBool>`${col} <> ${v}`;
    case '<':
      return sql<SqlBool>`${col} < ${v}`;
    case '<=':
      return sql<SqlBool>`${col} <= ${v}`;
    case '>':
      return sql<SqlBool>`${col} > ${v}`;
    case '>=':
      return sql<SqlBool>`${col} >= ${v}`;
  }
}

/** String comparisons; LIKE is case-sensitive and ILIKE case-insensitive on both stores. */
export function compareString(
  dialect: StoreDialect,
  col: Operand,
  cond: Extract<Condition, { kind: 'string' | 'list' }>,
): Predicate {
  if (cond.kind === 'list') {
    const inside = inList(dialect, col, cond.value, 'text');
    return cond.op === 'IN' ? inside : sql<SqlBool>`not (${inside})`;
  }
  const v = cond.value;
  switch (cond.op) {
    case '=':
      return sql<SqlBool>`${col} = ${v}`;
    case '!=':
      return sql<SqlBool>`${col} <> ${v}`;
    case 'LIKE':
      return dialect === 'postgres'
        ? sql<SqlBool>`${col} like ${postgresLikePattern(v)}`
        : sql<SqlBool>`${col} glob ${sqliteGlobPattern(v)}`;
    case 'ILIKE':
      return dialect === 'postgres'
        ? sql<SqlBool>`${col} ilike ${postgresLikePattern(v)}`
        : sql<SqlBool>`lower(${col}) glob ${sqliteGlobPattern(v, true)}`;
  }
}

/** One ORDER BY term. Text sorts by code point on PostgreSQL too (`COLLATE "C"`), as SQLite does. */
export function orderTerm(
  dialect: StoreDialect,
  expr: Operand,
  ascending: boolean,
  text: boolean,
): RawBuilder<unknown> {
  const e = text && dialect === 'postgres' ? sql`${expr} collate "C"` : expr;
  return ascending ? sql`${e} asc` : sql`${e} desc`;
}

/** `0` when present, `1` when the expression is NULL: sorts missing values last in either direction. */
export function nullsLast(expr: Operand): RawBuilder<unknown> {
  return sql`(case when ${expr} is null then 1 else 0 end)`;
}
