import { invalidParameter } from '../../core/errors.js';
import {
  LIST_OPS,
  NULL_OPS,
  NUMERIC_OPS,
  STRING_OPS,
  numberField,
  pyList,
  stringField,
  validateCondition,
  type Condition,
  type FieldSpec,
} from './conditions.js';
import { parseRawClauses, parseRawOrderBy, quoteToken, type RawIdentifier } from './syntax.js';

/**
 * MLflow's runs search grammar (`runs/search` filter and order_by), validated the way MLflow's
 * SearchUtils does, with its messages.
 */
export type RunEntity = 'metric' | 'param' | 'tag' | 'attribute' | 'dataset';

/** Canonical run attribute keys (aliases resolved: `created` → start_time, `Run name` → run_name). */
export type RunStringAttribute = 'run_id' | 'run_name' | 'status' | 'user_id' | 'artifact_uri';
export type RunNumericAttribute = 'start_time' | 'end_time';
export type RunAttribute = RunStringAttribute | RunNumericAttribute;
export type DatasetField = 'name' | 'digest' | 'context';

export type RunClause = { entity: RunEntity; key: string } & Condition;

export interface RunOrder {
  entity: Exclude<RunEntity, 'dataset'>;
  key: string;
  ascending: boolean;
}

/** Most order_by entries one search may hold (each may join a table; SQLite joins at most 64). */
export const MAX_ORDER_BY = 32;

const ENTITY_ALIASES: Record<string, RunEntity> = {
  metric: 'metric',
  metrics: 'metric',
  parameter: 'param',
  parameters: 'param',
  param: 'param',
  params: 'param',
  tag: 'tag',
  tags: 'tag',
  attribute: 'attribute',
  attributes: 'attribute',
  attr: 'attribute',
  run: 'attribute',
  dataset: 'dataset',
  datasets: 'dataset',
};
const ENTITY_NAMES = ['metric', 'parameter', 'tag', 'attribute', 'dataset'];

const ATTRIBUTE_ALIASES: Record<string, RunAttribute> = {
  run_id: 'run_id',
  run_name: 'run_name',
  'run name': 'run_name',
  'Run name': 'run_name',
  'Run Name': 'run_name',
  status: 'status',
  user_id: 'user_id',
  artifact_uri: 'artifact_uri',
  start_time: 'start_time',
  created: 'start_time',
  Created: 'start_time',
  end_time: 'end_time',
};
const VALID_ATTRIBUTE_KEYS = Object.keys(ATTRIBUTE_ALIASES).sort();
const NUMERIC_ATTRIBUTES = new Set<RunAttribute>(['start_time', 'end_time']);

const KEY_VALUE_OPS = [...STRING_OPS, ...NULL_OPS];
const STRING_ATTRIBUTE_OPS = [...STRING_OPS, ...LIST_OPS];

const metricSpec = numberField(NUMERIC_OPS, (raw) => `Expected numeric value type for metric. Found ${raw}`);
const keyValueSpec = (what: 'parameter' | 'tag') =>
  stringField(KEY_VALUE_OPS, (raw) => `Expected a quoted string value for ${what} (e.g. 'my-value'). Got value ${raw}`);
const paramSpec = keyValueSpec('parameter');
const tagSpec = keyValueSpec('tag');
const numericAttributeSpec = (key: string) =>
  numberField(NUMERIC_OPS, (raw) => `Expected numeric value type for numeric attribute: ${key}. Found ${raw}`);
const stringAttributeSpec = (key: RunStringAttribute): FieldSpec =>
  key === 'run_id'
    ? stringField(STRING_ATTRIBUTE_OPS, (raw) => `Expected a quoted string value for attributes. Got value ${raw}`)
    : stringField(
        STRING_OPS,
        (raw) => `Expected a quoted string value for attributes. Got value ${raw}`,
        "Only the 'run_id' attribute supports comparison with a list of quoted string values.",
      );
const datasetSpec = (key: DatasetField): FieldSpec =>
  stringField(
    key === 'context' ? STRING_OPS : STRING_ATTRIBUTE_OPS,
    (raw) => `Expected a quoted string value for dataset attributes. Got value ${raw}`,
    "Only the dataset 'name' and 'digest' support comparison with a list of quoted string values.",
  );

function resolveEntity(ident: RawIdentifier): RunEntity {
  if (ident.entity === undefined) return 'attribute';
  const entity = ENTITY_ALIASES[ident.entity.toLowerCase()];
  if (!entity) {
    throw invalidParameter(`Invalid entity type '${ident.entity}'. Valid values are ${pyList(ENTITY_NAMES)}`);
  }
  return entity;
}

function resolveAttribute(key: string): RunAttribute {
  const attr = ATTRIBUTE_ALIASES[key];
  if (!attr) {
    throw invalidParameter(
      `Invalid attribute key ${quoteToken(key)} specified. Valid keys are '${pyList(VALID_ATTRIBUTE_KEYS)}'`,
    );
  }
  return attr;
}

function resolveDatasetField(key: string): DatasetField {
  if (key === 'name' || key === 'digest' || key === 'context') return key;
  throw invalidParameter(
    `Invalid dataset key ${quoteToken(key)} specified. Valid keys are '${pyList(['name', 'digest', 'context'])}'`,
  );
}

/** Parses and validates a runs filter. Empty or blank = no clauses. Throws INVALID_PARAMETER_VALUE. */
export function parseRunFilter(filter: string): RunClause[] {
  return parseRawClauses(filter ?? '').map((raw): RunClause => {
    const entity = resolveEntity(raw.ident);
    switch (entity) {
      case 'metric':
        return { entity, key: raw.ident.key, ...validateCondition(raw, metricSpec) };
      case 'param':
        return { entity, key: raw.ident.key, ...validateCondition(raw, paramSpec) };
      case 'tag':
        return { entity, key: raw.ident.key, ...validateCondition(raw, tagSpec) };
      case 'dataset': {
        const key = resolveDatasetField(raw.ident.key);
        return { entity, key, ...validateCondition(raw, datasetSpec(key)) };
      }
      case 'attribute': {
        const key = resolveAttribute(raw.ident.key);
        const spec = NUMERIC_ATTRIBUTES.has(key)
          ? numericAttributeSpec(key)
          : stringAttributeSpec(key as RunStringAttribute);
        return { entity, key, ...validateCondition(raw, spec) };
      }
    }
  });
}

/** Parses run order_by strings: `<entity>.<key> [ASC|DESC]`. Duplicate keys (after aliases) are refused. */
export function parseRunOrderBy(orderBy: readonly string[] | string | undefined): RunOrder[] {
  if (orderBy === undefined || orderBy === null) return [];
  const list = typeof orderBy === 'string' ? [orderBy] : orderBy;
  if (!Array.isArray(list)) throw invalidParameter(`Invalid order_by: expected a list of strings`);
  if (list.length > MAX_ORDER_BY) throw invalidParameter(`Invalid order_by: more than ${MAX_ORDER_BY} entries`);
  const seen = new Set<string>();
  return list.map((text): RunOrder => {
    const { ident: raw, ascending } = parseRawOrderBy(text);
    // MLflow reads order_by with shell-like quoting, so a wholly quoted `metrics.acc` names metric acc.
    const dot = raw.entity === undefined && /^[`"]/.test(raw.raw) ? raw.key.indexOf('.') : -1;
    const ident = dot > 0 ? { ...raw, entity: raw.key.slice(0, dot), key: raw.key.slice(dot + 1) } : raw;
    const entity = resolveEntity(ident);
    if (entity === 'dataset') throw invalidParameter(`Invalid order_by entity type 'dataset' in ${quoteToken(text)}`);
    const key = entity === 'attribute' ? resolveAttribute(ident.key) : ident.key;
    const id = `${entity}\u0000${key}`;
    if (seen.has(id)) throw invalidParameter(`\`order_by\` contains duplicate fields: ${pyList(list.map(String))}`);
    seen.add(id);
    return { entity, key, ascending };
  });
}
