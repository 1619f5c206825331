import { sql, type RawBuilder } from 'kysely';
import type { StoreDialect } from '../../store/index.js';
import type { RunAttribute, RunClause, RunOrder } from './filter-parser.js';
import { compareNumber, compareString, nullsLast, orderTerm, type Predicate } from './sql-helpers.js';

/**
 * The SQL of a runs search over `runs r`: one predicate per filter clause, joins for the order keys, and
 * the ORDER BY. Values are bound parameters; names come from the constants here.
 */

// runs columns by canonical attribute name.
const ATTRIBUTE_COLUMN: Record<RunAttribute, string> = {
  run_id: 'run_uuid',
  run_name: 'name',
  status: 'status',
  user_id: 'user_id',
  artifact_uri: 'artifact_uri',
  start_time: 'start_time',
  end_time: 'end_time',
};

const DATASET_CONTEXT_TAG = 'mlflow.data.context';

const runCol = (attr: RunAttribute) => sql.ref(`r.${ATTRIBUTE_COLUMN[attr]}`);

/**
 * A metric/param/tag clause as a predicate on one row `<alias>` of latest_metrics/params/tags that is
 * already known to belong to the run and key. A NaN metric never matches a comparison.
 */
function rowPredicate(dialect: StoreDialect, c: RunClause, alias: string): Predicate {
  const col = (name: string) => sql.ref(`${alias}.${name}`);
  if (c.kind === 'number') return sql`${col('is_nan')} = 0 and ${compareNumber(dialect, col('value'), c, 'double')}`;
  if (c.kind === 'null') return c.op === 'IS NULL' ? sql`1 = 0` : sql`1 = 1`;
  return compareString(dialect, col('value'), c);
}

const KEYED_TABLE = { metric: 'latest_metrics', param: 'params', tag: 'tags' } as const;

/** One filter clause as a predicate over `runs r`. Metrics use the run's latest value. */
function clausePredicate(dialect: StoreDialect, c: RunClause): Predicate {
  switch (c.entity) {
    case 'metric':
    case 'param':
    case 'tag': {
      const table = sql.table(KEYED_TABLE[c.entity]);
      const row = sql`select 1 from ${table} k where k.run_uuid = r.run_uuid and k.key = ${c.key}`;
      if (c.kind === 'null') return c.op === 'IS NULL' ? sql`not exists (${row})` : sql`exists (${row})`;
      return sql`exists (${row} and ${rowPredicate(dialect, c, 'k')})`;
    }
    case 'attribute': {
      const col = runCol(c.key as RunAttribute);
      if (c.kind === 'number') return compareNumber(dialect, col, c, 'bigint');
      if (c.kind === 'null') break;
      return compareString(dialect, col, c);
    }
    case 'dataset': {
      if (c.kind === 'number' || c.kind === 'null') break;
      const links = sql`i.destination_type = ${'RUN'} and i.destination_id = r.run_uuid
        and i.source_type = ${'DATASET'}`;
      if (c.key === 'context') {
        return sql`exists (select 1 from inputs i join input_tags it on it.input_uuid = i.input_uuid
          where ${links} and it.name = ${DATASET_CONTEXT_TAG} and ${compareString(dialect, sql.ref('it.value'), c)})`;
      }
      const col = sql.ref(c.key === 'name' ? 'd.name' : 'd.digest');
      return sql`exists (select 1 from inputs i join datasets d on d.dataset_uuid = i.source_id
        where ${links} and ${compareString(dialect, col, c)})`;
    }
  }
  throw new Error(`unreachable: clause ${c.entity} ${c.op}`);
}

/** Whether some order key gets an inner join (see `plan`). */
export function hasInnerJoin(clauses: RunClause[], orders: RunOrder[]): boolean {
  return orders.some(
    (o) =>
      o.entity !== 'attribute' &&
      clauses.some((c) => c.entity === o.entity && c.key === o.key && impliesPresence(c)),
  );
}

/** Whether a clause can only match runs that have the key (and, for metrics, a non-NaN latest value). */
function impliesPresence(c: RunClause): boolean {
  return c.kind === 'number' || c.kind === 'string' || c.op === 'IS NOT NULL';
}

export interface Plan {
  joins: RawBuilder<unknown>[];
  where: Predicate[];
  terms: RawBuilder<unknown>[];
}

/**
 * Joins, predicates and ORDER BY. Order: the requested keys (runs lacking the key, and NaN metrics, last
 * in both directions), then start_time DESC unless ordered on it, then run_uuid ASC.
 *
 * When the filter already implies that every matching run has an order key (`metrics.acc > 0.5` with
 * `order_by metrics.acc`), that key is an inner join carrying the key's clauses itself, and needs no
 * "missing/NaN last" term: the database can then walk the (key, value) index in order and stop at the
 * page size instead of sorting every run of the experiment.
 */
export function plan(dialect: StoreDialect, clauses: RunClause[], orders: RunOrder[], runsFirst: boolean): Plan {
  const joins: RawBuilder<unknown>[] = [];
  const where: Predicate[] = [];
  const terms: RawBuilder<unknown>[] = [];
  const folded = new Set<RunClause>();
  orders.forEach((o, i) => {
    if (o.entity === 'attribute') {
      const col = runCol(o.key as RunAttribute);
      if (o.key === 'end_time') terms.push(nullsLast(col));
      terms.push(orderTerm(dialect, col, o.ascending, o.key !== 'start_time' && o.key !== 'end_time'));
      return;
    }
    const alias = `o${i}`;
    const ref = (col: string) => sql.ref(`${alias}.${col}`);
    const table = sql.table(KEYED_TABLE[o.entity]);
    const on = sql`${ref('run_uuid')} = r.run_uuid and ${ref('key')} = ${o.key}`;
    const sameKey = clauses.filter((c) => c.entity === o.entity && c.key === o.key);
    if (sameKey.some(impliesPresence)) {
      // SQLite never reorders the tables of a CROSS JOIN: it keeps `runs` as the outer loop.
      const join = runsFirst ? sql`cross join` : sql`join`;
      joins.push(sql`${join} ${table} as ${sql.id(alias)} on ${on}`);
      for (const c of sameKey) {
        folded.add(c);
        where.push(rowPredicate(dialect, c, alias));
      }
      // Always true (every text is >= ''), but a range on the (key, value) index is what makes SQLite's
      // planner (which has no statistics) walk that index in order rather than sort the whole experiment.
      if (dialect === 'sqlite' && !runsFirst && o.entity !== 'metric') where.push(sql`${ref('value')} >= ${''}`);
    } else {
      joins.push(sql`left join ${table} as ${sql.id(alias)} on ${on}`);
      terms.push(
        o.entity === 'metric'
          ? sql`(case when ${ref('run_uuid')} is null then 2 when ${ref('is_nan')} = 1 then 1 else 0 end)`
          : nullsLast(ref('run_uuid')),
      );
    }
    terms.push(orderTerm(dialect, ref('value'), o.ascending, o.entity !== 'metric'));
  });
  if (!orders.some((o) => o.entity === 'attribute' && o.key === 'start_time')) terms.push(sql`r.start_time desc`);
  terms.push(orderTerm(dialect, sql.ref('r.run_uuid'), true, true));
  for (const c of clauses) if (!folded.has(c)) where.push(clausePredicate(dialect, c));
  return { joins, where, terms };
}

/**
 * A clause that holds exactly for the runs that have the order key (with a non-NaN value, for a metric):
 * those sort first under that key, in both directions.
 */
export function presenceClause(o: RunOrder): RunClause {
  return o.entity === 'metric'
    ? { entity: 'metric', key: o.key, kind: 'number', op: '>=', value: Number.NEGATIVE_INFINITY }
    : { entity: o.entity, key: o.key, kind: 'null', op: 'IS NOT NULL' };
}
