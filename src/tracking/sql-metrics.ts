import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../store/schema.js';
import type { StoreDialect } from '../store/index.js';
import type { Metric, MetricWithRunId } from './entities.js';

type Db = Kysely<Database> | Transaction<Database>;

/** A run's public id and its compact key in the metric history. */
export interface RunKeys {
  run_uuid: string;
  run_key: number;
}

/** Which of two points is "latest": MLflow orders by (step, timestamp, value). */
function newer(a: Metric, b: Metric): boolean {
  if (a.step !== b.step) return a.step > b.step;
  if (a.timestamp !== b.timestamp) return a.timestamp > b.timestamp;
  return storedValue(a.value) > storedValue(b.value);
}

/** NaN cannot live in a SQLite REAL (it becomes NULL): it is stored as 0 with is_nan = 1. */
export const storedValue = (v: number) => (Number.isNaN(v) ? 0 : v);

/** The newest point of each key among `metrics`. */
export function latestPerKey(metrics: Metric[]): Metric[] {
  const latest = new Map<string, Metric>();
  for (const m of metrics) {
    const cur = latest.get(m.key);
    if (!cur || newer(m, cur)) latest.set(m.key, m);
  }
  return [...latest.values()];
}

/** Moves a key's latest value only when the incoming point is newer (the upsert's WHERE, shared by both paths). */
export const LATEST_IS_NEWER =
  '(excluded.step, excluded.timestamp, excluded.value) > (latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)';

/**
 * Appends points to the history and moves each key's latest value forward when a point is newer: the
 * PostgreSQL path (SQLite takes SqliteRunWriter). The points travel as arrays through `unnest`: one
 * statement of a few parameters instead of 6,000.
 */
export async function insertMetrics(tx: Db, run: RunKeys, metrics: Metric[]): Promise<void> {
  if (!metrics.length) return;
  const runId = run.run_uuid;
  const keys: string[] = [], values: string[] = [], nans: number[] = [], timestamps: number[] = [], steps: number[] = [];
  for (const m of metrics) {
    keys.push(m.key);
    values.push(String(storedValue(m.value)));
    nans.push(Number.isNaN(m.value) ? 1 : 0);
    timestamps.push(m.timestamp);
    steps.push(m.step);
  }
  await sql`insert into metrics (run_key, key, value, is_nan, timestamp, step)
    select ${run.run_key}, * from unnest(${keys}::text[], ${values}::float8[], ${nans}::int[], ${timestamps}::int8[], ${steps}::int8[])
    on conflict do nothing`.execute(tx);
  const rows = latestPerKey(metrics).map((m) => ({
    run_uuid: runId,
    key: m.key,
    value: storedValue(m.value),
    is_nan: Number.isNaN(m.value) ? 1 : 0,
    timestamp: m.timestamp,
    step: m.step,
  }));
  await tx
    .insertInto('latest_metrics')
    .values(rows)
    .onConflict((oc) =>
      oc
        .columns(['run_uuid', 'key'])
        .doUpdateSet({
          value: (eb) => eb.ref('excluded.value'),
          is_nan: (eb) => eb.ref('excluded.is_nan'),
          timestamp: (eb) => eb.ref('excluded.timestamp'),
          step: (eb) => eb.ref('excluded.step'),
        })
        .where(sql<boolean>`${sql.raw(LATEST_IS_NEWER)}`),
    )
    .execute();
}

/**
 * A page of one metric's history, in primary-key order (step, timestamp, value); `limit` + 1 rows to detect
 * more. The rows the driver returns are the Metric objects (NaN arrives as NULL and is patched in place):
 * at 100,000 points a second object per row costs more than the query.
 */
export async function metricHistory(db: Db, runKey: number, key: string, offset: number, limit?: number): Promise<Metric[]> {
  let q = db
    .selectFrom('metrics')
    .select((eb) => [
      'key',
      eb.case().when('is_nan', '=', 1).then(sql<number | null>`null`).else(eb.ref('value')).end().as('value'),
      'timestamp',
      'step',
    ])
    .where('run_key', '=', runKey)
    .where('key', '=', key)
    .orderBy('step')
    .orderBy('timestamp')
    .orderBy('value');
  if (limit !== undefined) q = q.limit(limit + 1).offset(offset);
  else if (offset) q = q.offset(offset).limit(Number.MAX_SAFE_INTEGER);
  const rows = (await q.execute()) as Metric[];
  for (const r of rows) if (r.value === null) r.value = NaN;
  return rows;
}

/**
 * A history page rendered as MLflow JSON by the database itself (json_group_array / json_agg), with non-finite
 * values as "NaN" / "Infinity" / "-Infinity". Both dialects print doubles so that they parse back exactly.
 */
export async function metricHistoryJson(
  db: Db,
  dialect: StoreDialect,
  runKey: number,
  key: string,
  offset: number,
  limit?: number,
): Promise<{ metricsJson: string | Buffer; count: number; more: boolean }> {
  const where = sql`where run_key = ${runKey} and key = ${key}`;
  const lim = limit !== undefined ? sql`limit ${limit}` : dialect === 'sqlite' ? sql`limit -1` : sql``;
  const page = sql`select key, value, is_nan, timestamp, step from metrics ${where}
    order by step, timestamp, value ${lim} offset ${offset}`;
  // The text is built by concatenation (faster than a JSON object per row). SQLite's json_quote and
  // PostgreSQL's float8 output both print doubles so they parse back exactly. SQLite feeds the aggregate in
  // the subquery's order (an ordered LIMIT subquery is not flattened) and hands the text over as bytes (a
  // blob), so megabytes of JSON are not decoded and re-encoded as UTF-8; PostgreSQL is told the order.
  const query =
    dialect === 'sqlite'
      ? sql<{ j: Buffer | null; n: number }>`
          select cast('[' || group_concat('{"key":' || json_quote(key) || ',"value":' ||
            (case when is_nan = 1 then '"NaN"' when value > 1.7976931348623157e308 then '"Infinity"'
                  when value < -1.7976931348623157e308 then '"-Infinity"' else json_quote(value) end) ||
            ',"timestamp":' || timestamp || ',"step":' || step || '}', ',') || ']' as blob) as j, count(*) as n
          from (${page}) as p`
      : sql<{ j: string | null; n: number }>`
          select '[' || string_agg('{"key":' || to_json(key)::text || ',"value":' ||
            (case when is_nan = 1 then '"NaN"' when value = 'Infinity'::float8 then '"Infinity"'
                  when value = '-Infinity'::float8 then '"-Infinity"' else value::text end) ||
            ',"timestamp":' || timestamp || ',"step":' || step || '}', ',' order by step, timestamp, value) || ']' as j,
            count(*) as n
          from (${page}) as p`;
  const row = (await query.execute(db)).rows[0];
  const count = Number(row?.n ?? 0);
  let more = false;
  if (limit !== undefined && count === limit) {
    const next = await sql`select 1 as x from metrics ${where} order by step, timestamp, value limit 1 offset ${offset + limit}`.execute(db);
    more = next.rows.length > 0;
  }
  return { metricsJson: row?.j ?? '[]', count, more };
}

/**
 * get-history-bulk-interval: at most `maxResults` steps per run, spread evenly over the runs' step range
 * (within [start, end] when given), plus each run's first and last step, and every point at those steps.
 * MLflow spreads the samples by rank over the union of steps; Flywheel spreads them by step value, the same
 * on the usual step grids and what a chart's x-axis wants otherwise. Each sample is one index seek in SQL
 * (a recursive CTE of targets), so a 100,000-point history is never read whole.
 */
export async function metricHistoryBulkInterval(
  db: Db,
  dialect: StoreDialect,
  runs: RunKeys[],
  key: string,
  maxResults: number,
  startStep?: number,
  endStep?: number,
): Promise<MetricWithRunId[]> {
  const ranged = startStep !== undefined && endStep !== undefined;
  const inRange = ranged ? sql`and step >= ${startStep} and step <= ${endStep}` : sql``;
  const bounds: { run: RunKeys; lo: number; hi: number }[] = [];
  for (const run of runs) {
    const { rows } = await sql<{ lo: number | null; hi: number | null }>`
      select (select step from metrics where run_key = ${run.run_key} and key = ${key} ${inRange} order by step limit 1) as lo,
             (select step from metrics where run_key = ${run.run_key} and key = ${key} ${inRange} order by step desc limit 1) as hi`.execute(db);
    const b = rows[0];
    if (b && b.lo !== null && b.hi !== null) bounds.push({ run, lo: Number(b.lo), hi: Number(b.hi) });
  }
  if (!bounds.length) return [];
  const lo = ranged ? startStep! : Math.min(...bounds.map((b) => b.lo));
  const hi = ranged ? endStep! : Math.max(...bounds.map((b) => b.hi));
  const span = sql`cast(${hi - lo} as double precision)`;
  const last = Math.max(1, maxResults - 1);
  const exact = sql`${lo} + i * ${span} / ${last}`;
  // PostgreSQL would compare the bigint step column as a double (no index): round the target up instead.
  const target = dialect === 'postgres' ? sql`cast(ceil(${exact}) as bigint)` : exact;
  const out: MetricWithRunId[] = [];
  for (const b of bounds) {
    const { rows } = await sql<{ key: string; value: number | null; timestamp: number; step: number }>`
      with recursive targets (i) as (
        select 0 union all select i + 1 from targets where i < ${maxResults - 1}
      ), sampled (step) as (
        select (select step from metrics where run_key = ${b.run.run_key} and key = ${key}
                  and step >= ${target} ${inRange} order by step limit 1) from targets
        union select ${b.hi}
      )
      select key, case when is_nan = 1 then null else value end as value, timestamp, step
      from metrics
      where run_key = ${b.run.run_key} and key = ${key} and step in (select step from sampled where step is not null)
      order by step, timestamp, value`.execute(db);
    for (const r of rows) {
      out.push({ key: r.key, value: r.value === null ? NaN : Number(r.value), timestamp: Number(r.timestamp), step: Number(r.step), run_id: b.run.run_uuid });
    }
  }
  return out;
}
