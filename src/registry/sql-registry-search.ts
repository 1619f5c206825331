import { sql, type Kysely, type SqlBool } from 'kysely';
import { invalidParameter } from '../core/index.js';
import type { Database, StoreDialect } from '../store/index.js';
import { decodePageToken, encodePageToken, validateMaxResults } from '../tracking/search/index.js';
import { LIST_OPS, NUMERIC_OPS, STRING_OPS, numberField, pyList, stringField, validateCondition, type FieldSpec } from '../tracking/search/conditions.js';
import { and, compareNumber, compareString, orderTerm, type Predicate } from '../tracking/search/sql-helpers.js';
import { parseRawClauses, parseRawOrderBy, quoteToken, type RawClause } from '../tracking/search/syntax.js';
import type { SearchRequest } from './service.js';

/**
 * `registered-models/search` (filter on `name`, `tags.<key>`) and `model-versions/search` (filter on `name`,
 * `run_id`, `version_number`, `source_path`, `tags.<key>`), over the tracking search's parser and SQL helpers.
 */
export const MAX_REGISTERED_MODELS = 1000;
export const DEFAULT_REGISTERED_MODELS = 100;
export const MAX_MODEL_VERSIONS = 200_000;

const stringSpec = (what: string) => stringField(STRING_OPS, (raw) => `Expected a quoted string value for ${what}. Got value ${raw}`);
const runIdSpec = stringField(['=', '!=', ...LIST_OPS], (raw) => `Expected a quoted string value for run_id. Got value ${raw}`);
const versionSpec = numberField(NUMERIC_OPS, (raw) => `Expected numeric value type for version_number. Found ${raw}`);

type Field = { column?: string; tag?: string; spec: FieldSpec };

function fieldOf(c: RawClause, attributes: Record<string, Field>): Field {
  const { entity, key } = c.ident;
  if (entity === 'tags' || entity === 'tag') return { tag: key, spec: stringSpec('tags') };
  if (entity !== undefined && entity !== 'attribute' && entity !== 'attributes') {
    throw invalidParameter(`Invalid entity type ${quoteToken(entity)}. Valid entity types are ('attribute', 'tag', 'tags')`);
  }
  const f = attributes[key];
  if (!f) throw invalidParameter(`Invalid attribute key ${quoteToken(key)} specified. Valid keys are '${pyList(Object.keys(attributes))}'`);
  return f;
}

function predicates(
  dialect: StoreDialect,
  filter: string | undefined,
  attributes: Record<string, Field>,
  tagExists: (key: string, cond: Predicate) => Predicate,
): Predicate[] {
  return parseRawClauses(filter ?? '').map((raw) => {
    const f = fieldOf(raw, attributes);
    const cond = validateCondition(raw, f.spec);
    if (f.tag !== undefined) {
      if (cond.kind !== 'string') throw invalidParameter('Tags can only be compared with =, !=, LIKE or ILIKE.');
      return tagExists(f.tag, compareString(dialect, sql.ref('t.value'), cond));
    }
    const col = sql.ref(f.column!);
    if (cond.kind === 'number') return compareNumber(dialect, col, cond, 'bigint');
    if (cond.kind === 'string' || cond.kind === 'list') return compareString(dialect, col, cond);
    throw invalidParameter('IS NULL comparisons are not supported here.');
  });
}

function orderBy(dialect: StoreDialect, list: string[] | undefined, keys: Record<string, { column: string; text: boolean }>) {
  return (list ?? []).map((text) => {
    const { ident, ascending } = parseRawOrderBy(text);
    const k = keys[ident.key];
    if (!k || (ident.entity !== undefined && ident.entity !== 'attribute')) {
      throw invalidParameter(`Invalid order by key ${quoteToken(text)} specified. Valid keys are '${pyList(Object.keys(keys))}'`);
    }
    return orderTerm(dialect, sql.ref(k.column), ascending, k.text);
  });
}

export async function searchRegisteredModelNames(
  db: Kysely<Database>,
  dialect: StoreDialect,
  req: SearchRequest,
): Promise<{ names: string[]; nextPageToken?: string }> {
  const max = validateMaxResults(req.max_results, DEFAULT_REGISTERED_MODELS, MAX_REGISTERED_MODELS);
  const offset = decodePageToken(req.page_token);
  const where = and(
    predicates(dialect, req.filter, { name: { column: 'm.name', spec: stringSpec('attributes') } }, (key, cond) =>
      sql<SqlBool>`exists (select 1 from registered_model_tags t where t.name = m.name and t.key = ${key} and ${cond})`,
    ),
  );
  const terms = orderBy(dialect, req.order_by, {
    name: { column: 'm.name', text: true },
    timestamp: { column: 'm.last_updated_timestamp', text: false },
    last_updated_timestamp: { column: 'm.last_updated_timestamp', text: false },
    creation_timestamp: { column: 'm.creation_timestamp', text: false },
  });
  terms.push(orderTerm(dialect, sql.ref('m.name'), true, true));
  const { rows } = await sql<{ name: string }>`select m.name as name from registered_models as m where ${where}
    order by ${sql.join(terms)} limit ${max + 1} offset ${offset}`.execute(db);
  const names = rows.slice(0, max).map((r) => r.name);
  return rows.length > max ? { names, nextPageToken: encodePageToken(offset + max) } : { names };
}

export async function searchModelVersionKeys(
  db: Kysely<Database>,
  dialect: StoreDialect,
  req: SearchRequest,
): Promise<{ keys: { name: string; version: number }[]; nextPageToken?: string }> {
  const max = validateMaxResults(req.max_results, MAX_MODEL_VERSIONS, MAX_MODEL_VERSIONS);
  const offset = decodePageToken(req.page_token);
  const where = and([
    sql<SqlBool>`v.current_stage <> 'Deleted_Internal'`,
    ...predicates(
      dialect,
      req.filter,
      {
        name: { column: 'v.name', spec: stringSpec('attributes') },
        run_id: { column: 'v.run_id', spec: runIdSpec },
        source_path: { column: 'v.source', spec: stringSpec('attributes') },
        version_number: { column: 'v.version', spec: versionSpec },
      },
      (key, cond) =>
        sql<SqlBool>`exists (select 1 from model_version_tags t where t.name = v.name and t.version = v.version
          and t.key = ${key} and ${cond})`,
    ),
  ]);
  const terms = orderBy(dialect, req.order_by, {
    name: { column: 'v.name', text: true },
    version_number: { column: 'v.version', text: false },
    timestamp: { column: 'v.last_updated_timestamp', text: false },
    last_updated_timestamp: { column: 'v.last_updated_timestamp', text: false },
    creation_timestamp: { column: 'v.creation_timestamp', text: false },
  });
  terms.push(orderTerm(dialect, sql.ref('v.name'), true, true), sql`v.version desc`);
  const { rows } = await sql<{ name: string; version: number }>`select v.name as name, v.version as version
    from model_versions as v where ${where} order by ${sql.join(terms)} limit ${max + 1} offset ${offset}`.execute(db);
  const keys = rows.slice(0, max).map((r) => ({ name: r.name, version: Number(r.version) }));
  return rows.length > max ? { keys, nextPageToken: encodePageToken(offset + max) } : { keys };
}
