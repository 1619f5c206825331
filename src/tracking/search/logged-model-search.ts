import { sql, type Kysely, type RawBuilder, type SqlBool } from 'kysely';
import { invalidParameter } from '../../core/errors.js';
import type { Database, StoreDialect } from '../../store/index.js';
import type { SearchLoggedModelsRequest } from '../service.js';
import {
  NUMERIC_OPS,
  STRING_OPS,
  numberField,
  pyList,
  stringField,
  validateCondition,
  type Condition,
} from './conditions.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import { experimentIdList, validateMaxResults } from './request.js';
import { and, compareNumber, compareString, inList, nullsLast, orderTerm, type Predicate } from './sql-helpers.js';
import { parseRawClauses, quoteToken } from './syntax.js';

/**
 * `logged-models/search` (MLflow 3) over active logged models. Filter: attributes name, model_id,
 * model_type, status (compared with the stored status string), source_run_id, creation_timestamp /
 * creation_time, last_updated_timestamp / last_updated_time; `params.<k>` and `tags.<k>` with
 * `= != LIKE ILIKE`. Metrics are not stored with logged models here, so `metrics.` filters and metric
 * order_by are refused with INVALID_PARAMETER_VALUE rather than silently matching nothing; the request's
 * `datasets` (which only scope metric clauses) are therefore ignored.
 */
type LoggedModelColumn =
  | 'name'
  | 'model_id'
  | 'model_type'
  | 'status'
  | 'source_run_id'
  | 'experiment_id'
  | 'creation_timestamp_ms'
  | 'last_updated_timestamp_ms';

export type LoggedModelClause = (
  | { entity: 'attribute'; key: LoggedModelColumn }
  | { entity: 'param' | 'tag'; key: string }
) &
  Condition;

export interface LoggedModelOrder {
  key: LoggedModelColumn;
  ascending: boolean;
}

const DEFAULT_MAX_RESULTS = 50;

const ATTRIBUTES: Record<string, LoggedModelColumn> = {
  name: 'name',
  model_id: 'model_id',
  model_type: 'model_type',
  status: 'status',
  source_run_id: 'source_run_id',
  creation_timestamp: 'creation_timestamp_ms',
  creation_time: 'creation_timestamp_ms',
  creation_timestamp_ms: 'creation_timestamp_ms',
  last_updated_timestamp: 'last_updated_timestamp_ms',
  last_updated_time: 'last_updated_timestamp_ms',
  last_updated_timestamp_ms: 'last_updated_timestamp_ms',
};
const FILTER_KEYS = Object.keys(ATTRIBUTES);
const ORDER_KEYS: Record<string, LoggedModelColumn> = { ...ATTRIBUTES, experiment_id: 'experiment_id' };
const NUMERIC = new Set<LoggedModelColumn>(['creation_timestamp_ms', 'last_updated_timestamp_ms', 'experiment_id']);
const NULLABLE = new Set<LoggedModelColumn>(['model_type', 'source_run_id']);

const ENTITIES: Record<string, 'attribute' | 'param' | 'tag' | 'metric'> = {
  attribute: 'attribute',
  attributes: 'attribute',
  attr: 'attribute',
  param: 'param',
  params: 'param',
  parameter: 'param',
  parameters: 'param',
  tag: 'tag',
  tags: 'tag',
  metric: 'metric',
  metrics: 'metric',
};

const stringSpec = (what: string) =>
  stringField(STRING_OPS, (raw) => `Expected a quoted string value for ${what} (e.g. 'my-value'). Got value ${raw}`);
const numericSpec = (key: string) =>
  numberField(NUMERIC_OPS, (raw) => `Expected numeric value type for numeric attribute: ${key}. Found ${raw}`);

const metricsUnsupported = (what: string) =>
  invalidParameter(
    `${what}: logged model metrics are not supported by this server (no metrics are stored with logged models)`,
  );

export function parseLoggedModelFilter(filter: string): LoggedModelClause[] {
  return parseRawClauses(filter ?? '').map((raw): LoggedModelClause => {
    const { entity: prefix, key } = raw.ident;
    const entity = prefix === undefined ? 'attribute' : ENTITIES[prefix.toLowerCase()];
    if (!entity) {
      throw invalidParameter(
        `Invalid entity type ${quoteToken(prefix ?? '')}. ` +
          `Valid values are ${pyList(['metric', 'parameter', 'tag', 'attribute'])}`,
      );
    }
    if (entity === 'metric') throw metricsUnsupported(`Invalid filter clause ${quoteToken(raw.ident.raw)}`);
    if (entity === 'param' || entity === 'tag') {
      return { entity, key, ...validateCondition(raw, stringSpec(entity === 'param' ? 'parameter' : 'tag')) };
    }
    const column = ATTRIBUTES[key];
    if (!column) {
      throw invalidParameter(
        `Invalid attribute key ${quoteToken(key)} specified. Valid keys are '${pyList(FILTER_KEYS)}'`,
      );
    }
    const spec = NUMERIC.has(column) ? numericSpec(key) : stringSpec('attribute');
    return { entity: 'attribute', key: column, ...validateCondition(raw, spec) };
  });
}

/** order_by objects `{field_name, ascending = true}` on the attributes (optionally prefixed `attributes.`). */
export function parseLoggedModelOrderBy(orderBy: SearchLoggedModelsRequest['order_by']): LoggedModelOrder[] {
  if (orderBy === undefined || orderBy === null) return [];
  if (!Array.isArray(orderBy)) throw invalidParameter('Invalid order_by: expected a list of {field_name, ascending}');
  const seen = new Set<LoggedModelColumn>();
  return orderBy.map((o) => {
    const field = o !== null && typeof o === 'object' ? (o as { field_name?: unknown }).field_name : undefined;
    if (typeof field !== 'string' || field === '') {
      throw invalidParameter("Invalid order_by: each entry needs a 'field_name' string");
    }
    const dot = field.indexOf('.');
    const prefix = dot >= 0 ? field.slice(0, dot).toLowerCase() : undefined;
    const name = dot >= 0 ? field.slice(dot + 1) : field;
    if (prefix === 'metric' || prefix === 'metrics') {
      throw metricsUnsupported(`Invalid order_by field ${quoteToken(field)}`);
    }
    const key = prefix === undefined || ENTITIES[prefix] === 'attribute' ? ORDER_KEYS[name] : undefined;
    if (!key) {
      throw invalidParameter(
        `Invalid order_by field_name ${quoteToken(field)}. Valid values are '${pyList(Object.keys(ORDER_KEYS))}'`,
      );
    }
    if (seen.has(key)) throw invalidParameter(`order_by contains duplicate fields: ${quoteToken(field)}`);
    seen.add(key);
    const asc = (o as { ascending?: unknown }).ascending;
    if (asc !== undefined && asc !== null && typeof asc !== 'boolean' && asc !== 'true' && asc !== 'false') {
      throw invalidParameter(`Invalid order_by: 'ascending' must be a boolean, got ${quoteToken(String(asc))}`);
    }
    return { key, ascending: asc === undefined || asc === null || asc === true || asc === 'true' };
  });
}

function clausePredicate(dialect: StoreDialect, c: LoggedModelClause): Predicate {
  if (c.entity === 'attribute') {
    const col = sql.ref(`lm.${c.key}`);
    if (c.kind === 'number') return compareNumber(dialect, col, c, 'bigint');
    if (c.kind === 'null') throw new Error('unreachable');
    return compareString(dialect, col, c);
  }
  if (c.kind === 'number' || c.kind === 'null') throw new Error('unreachable');
  const table = sql.table(c.entity === 'param' ? 'logged_model_params' : 'logged_model_tags');
  return sql<SqlBool>`exists (select 1 from ${table} kv where kv.model_id = lm.model_id and kv.key = ${c.key}
    and ${compareString(dialect, sql.ref('kv.value'), c)})`;
}

/** One page of logged model ids; default order creation_timestamp_ms DESC, then model_id ASC. */
export async function searchLoggedModelIds(
  db: Kysely<Database>,
  dialect: StoreDialect,
  req: SearchLoggedModelsRequest,
): Promise<{ ids: string[]; nextPageToken?: string }> {
  const maxResults = validateMaxResults(req.max_results, DEFAULT_MAX_RESULTS);
  const clauses = parseLoggedModelFilter(req.filter ?? '');
  const orders = parseLoggedModelOrderBy(req.order_by);
  const offset = decodePageToken(req.page_token);
  const experimentIds = experimentIdList(req.experiment_ids);
  if (experimentIds.length === 0) return { ids: [] };

  const where = and([
    inList(dialect, sql.ref('lm.experiment_id'), experimentIds, 'integer'),
    sql<SqlBool>`lm.lifecycle_stage = ${'active'}`,
    ...clauses.map((c) => clausePredicate(dialect, c)),
  ]);
  const terms: RawBuilder<unknown>[] = [];
  for (const o of orders) {
    const col = sql.ref(`lm.${o.key}`);
    if (NULLABLE.has(o.key)) terms.push(nullsLast(col));
    terms.push(orderTerm(dialect, col, o.ascending, !NUMERIC.has(o.key)));
  }
  if (!orders.some((o) => o.key === 'creation_timestamp_ms')) terms.push(sql`lm.creation_timestamp_ms desc`);
  if (!orders.some((o) => o.key === 'model_id')) terms.push(orderTerm(dialect, sql.ref('lm.model_id'), true, true));
  const query = sql<{ model_id: string }>`select lm.model_id as model_id from logged_models as lm
    where ${where} order by ${sql.join(terms)} limit ${maxResults + 1} offset ${offset}`;
  const { rows } = await query.execute(db);
  const ids = rows.slice(0, maxResults).map((row) => row.model_id);
  return rows.length > maxResults ? { ids, nextPageToken: encodePageToken(offset + maxResults) } : { ids };
}
