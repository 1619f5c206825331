import { sql, type Kysely, type RawBuilder, type SqlBool } from 'kysely';
import { invalidParameter } from '../../core/errors.js';
import type { Database, StoreDialect } from '../../store/index.js';
import type { SearchExperimentsRequest } from '../service.js';
import {
  NULL_OPS,
  NUMERIC_OPS,
  STRING_OPS,
  numberField,
  pyList,
  stringField,
  validateCondition,
  type Condition,
} from './conditions.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import { lifecycleStages, parseViewType, validateMaxResults } from './request.js';
import { and, compareNumber, compareString, orderTerm, type Predicate } from './sql-helpers.js';
import { parseRawClauses, parseRawOrderBy, quoteToken, type RawIdentifier } from './syntax.js';

/**
 * `experiments/search`: filter on `name`, `creation_time`, `last_update_time` (no prefix or `attribute.`)
 * and `tags.<key>`; order by name, experiment_id, creation_time, last_update_time.
 */
export type ExperimentClause = ({ entity: 'attribute'; key: ExperimentAttribute } | { entity: 'tag'; key: string }) &
  Condition;
export type ExperimentAttribute = 'name' | 'creation_time' | 'last_update_time';
export interface ExperimentOrder {
  key: ExperimentAttribute | 'experiment_id';
  ascending: boolean;
}

const DEFAULT_MAX_RESULTS = 1000;
const ENTITY_TYPES = ['attribute', 'tag', 'tags'];
const SEARCH_KEYS: ExperimentAttribute[] = ['name', 'creation_time', 'last_update_time'];
const ORDER_KEYS: ExperimentOrder['key'][] = ['name', 'experiment_id', 'creation_time', 'last_update_time'];

const nameSpec = stringField(STRING_OPS, (raw) => `Expected a quoted string value for attributes. Got value ${raw}`);
const timeSpec = (key: string) =>
  numberField(NUMERIC_OPS, (raw) => `Expected numeric value type for numeric attribute: ${key}. Found ${raw}`);
const tagSpec = stringField(
  [...STRING_OPS, ...NULL_OPS],
  (raw) => `Expected a quoted string value for tag (e.g. 'my-value'). Got value ${raw}`,
);

function entityOf(ident: RawIdentifier): 'attribute' | 'tag' {
  if (ident.entity === undefined || ident.entity === 'attribute') return 'attribute';
  if (ident.entity === 'tag' || ident.entity === 'tags') return 'tag';
  throw invalidParameter(
    `Invalid entity type ${quoteToken(ident.entity)}. ` +
      `Valid entity types are (${ENTITY_TYPES.map((e) => `'${e}'`).join(', ')})`,
  );
}

function attributeKey<K extends string>(key: string, valid: readonly K[]): K {
  if ((valid as readonly string[]).includes(key)) return key as K;
  throw invalidParameter(`Invalid attribute key ${quoteToken(key)} specified. Valid keys are '${pyList(valid)}'`);
}

export function parseExperimentFilter(filter: string): ExperimentClause[] {
  return parseRawClauses(filter ?? '').map((raw): ExperimentClause => {
    if (entityOf(raw.ident) === 'tag') return { entity: 'tag', key: raw.ident.key, ...validateCondition(raw, tagSpec) };
    const key = attributeKey(raw.ident.key, SEARCH_KEYS);
    return { entity: 'attribute', key, ...validateCondition(raw, key === 'name' ? nameSpec : timeSpec(key)) };
  });
}

export function parseExperimentOrderBy(orderBy: readonly string[] | string | undefined): ExperimentOrder[] {
  if (orderBy === undefined || orderBy === null) return [];
  const list = typeof orderBy === 'string' ? [orderBy] : orderBy;
  if (!Array.isArray(list)) throw invalidParameter('Invalid order_by: expected a list of strings');
  const seen = new Set<string>();
  return list.map((text) => {
    const { ident, ascending } = parseRawOrderBy(text);
    if (entityOf(ident) !== 'attribute') throw invalidParameter(`Invalid order_by entity: tag (${quoteToken(text)})`);
    const key = attributeKey(ident.key, ORDER_KEYS);
    if (seen.has(key)) throw invalidParameter(`\`order_by\` contains duplicate fields: ${pyList(list.map(String))}`);
    seen.add(key);
    return { key, ascending };
  });
}

function clausePredicate(dialect: StoreDialect, c: ExperimentClause): Predicate {
  if (c.entity === 'tag') {
    const exists = (extra: RawBuilder<unknown> | undefined) =>
      sql<SqlBool>`exists (select 1 from experiment_tags t where t.experiment_id = e.experiment_id and t.key = ${c.key}
        ${extra ? sql`and ${extra}` : sql``})`;
    if (c.kind === 'null') return c.op === 'IS NULL' ? sql<SqlBool>`not ${exists(undefined)}` : exists(undefined);
    if (c.kind === 'number') throw new Error('unreachable');
    return exists(compareString(dialect, sql.ref('t.value'), c));
  }
  const col = sql.ref(`e.${c.key}`);
  if (c.kind === 'number') return compareNumber(dialect, col, c, 'bigint');
  if (c.kind === 'null') throw new Error('unreachable');
  return compareString(dialect, col, c);
}

/** One page of experiment ids matching an `experiments/search` request; default order creation_time DESC. */
export async function searchExperimentIds(
  db: Kysely<Database>,
  dialect: StoreDialect,
  req: SearchExperimentsRequest,
): Promise<{ ids: number[]; nextPageToken?: string }> {
  const maxResults = validateMaxResults(req.max_results, DEFAULT_MAX_RESULTS);
  const view = parseViewType(req.view_type, 'view_type');
  const clauses = parseExperimentFilter(req.filter ?? '');
  const orders = parseExperimentOrderBy(req.order_by ?? []);
  const offset = decodePageToken(req.page_token);

  const stage = lifecycleStages(view);
  const where = and([
    ...(stage ? [sql<SqlBool>`e.lifecycle_stage = ${stage}`] : []),
    ...clauses.map((c) => clausePredicate(dialect, c)),
  ]);
  const effective = orders.length > 0 ? orders : [{ key: 'creation_time', ascending: false } as ExperimentOrder];
  const terms = effective.map((o) => orderTerm(dialect, sql.ref(`e.${o.key}`), o.ascending, o.key === 'name'));
  if (!effective.some((o) => o.key === 'experiment_id')) terms.push(sql`e.experiment_id asc`);
  const query = sql<{ experiment_id: number }>`select e.experiment_id as experiment_id from experiments as e
    where ${where} order by ${sql.join(terms)} limit ${maxResults + 1} offset ${offset}`;
  const { rows } = await query.execute(db);
  const ids = rows.slice(0, maxResults).map((row) => Number(row.experiment_id));
  return rows.length > maxResults ? { ids, nextPageToken: encodePageToken(offset + maxResults) } : { ids };
}
