import type BetterSqlite3 from 'better-sqlite3';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../store/schema.js';
import type { Metric, MetricWithRunId } from './entities.js';
import { metricFromRow } from './sql-entities.js';

type Db = Kysely<Database> | Transaction<Database>;

const ROWS_PER_INSERT = 1000;

/** Which of two points is "latest": MLflow orders by (step, timestamp, value). */
function newer(a: Metric, b: Metric): boolean {
  if (a.step !== b.step) return a.step > b.step;
  if (a.timestamp !== b.timestamp) return a.timestamp > b.timestamp;
  return storedValue(a.value) > storedValue(b.value);
}

/** NaN cannot live in a SQLite REAL (it becomes NULL): it is stored as 0 with is_nan = 1. */
const storedValue = (v: number) => (Number.isNaN(v) ? 0 : v);

const SQLITE_ROWS_PER_STATEMENT = 100;
const sqliteInserts = new WeakMap<BetterSqlite3.Database, Map<number, BetterSqlite3.Statement>>();

/**
 * The ingest hot path on SQLite: fixed-shape multi-row inserts prepared once, bypassing query building
 * (which costs more than SQLite's own work for a 1,000-point batch). Runs on the connection of the
 * caller's open transaction: better-sqlite3 has one connection and Kysely holds it for the transaction.
 */
function sqliteInsertHistory(sqlite: BetterSqlite3.Database, runId: string, metrics: Metric[]): void {
  let cache = sqliteInserts.get(sqlite);
  if (!cache) sqliteInserts.set(sqlite, (cache = new Map()));
  const statement = (rows: number) => {
    let stmt = cache.get(rows);
    if (!stmt) {
      const values = Array(rows).fill('(?, ?, ?, ?, ?, ?)').join(', ');
      stmt = sqlite.prepare(`insert into metrics (run_uuid, key, value, is_nan, timestamp, step) values ${values} on conflict do nothing`);
      cache.set(rows, stmt);
    }
    return stmt;
  };
  // In primary-key order, consecutive rows land next to each other in the B-tree.
  const sorted = metrics.slice().sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.step - b.step));
  for (let i = 0; i < sorted.length; i += SQLITE_ROWS_PER_STATEMENT) {
    const chunk = sorted.slice(i, i + SQLITE_ROWS_PER_STATEMENT);
    const args: unknown[] = [];
    for (const m of chunk) args.push(runId, m.key, storedValue(m.value), Number.isNaN(m.value) ? 1 : 0, m.timestamp, m.step);
    statement(chunk.length).run(args);
  }
}

/**
 * Appends points to the history and moves each key's latest value forward when a point is newer. Pass the
 * store's SQLite connection (when it is one) to take the prepared-statement path.
 */
export async function insertMetrics(tx: Db, runId: string, metrics: Metric[], sqlite?: BetterSqlite3.Database): Promise<void> {
  if (!metrics.length) return;
  if (sqlite) sqliteInsertHistory(sqlite, runId, metrics);
  else for (let i = 0; i < metrics.length; i += ROWS_PER_INSERT) {
    const rows = metrics.slice(i, i + ROWS_PER_INSERT).map((m) => ({
      run_uuid: runId,
      key: m.key,
      value: storedValue(m.value),
      is_nan: Number.isNaN(m.value) ? 1 : 0,
      timestamp: m.timestamp,
      step: m.step,
    }));
    await tx.insertInto('metrics').values(rows).onConflict((oc) => oc.doNothing()).execute();
  }
  const latest = new Map<string, Metric>();
  for (const m of metrics) {
    const cur = latest.get(m.key);
    if (!cur || newer(m, cur)) latest.set(m.key, m);
  }
  const rows = [...latest.values()].map((m) => ({
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
        .where(
          sql<boolean>`(excluded.step, excluded.timestamp, excluded.value) > (latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)`,
        ),
    )
    .execute();
}

/** A page of one metric's history, in primary-key order (step, timestamp, value); `limit` + 1 rows to detect more. */
export async function metricHistory(db: Db, runId: string, key: string, offset: number, limit?: number): Promise<Metric[]> {
  let q = db
    .selectFrom('metrics')
    .select(['key', 'value', 'is_nan', 'timestamp', 'step'])
    .where('run_uuid', '=', runId)
    .where('key', '=', key)
    .orderBy('step')
    .orderBy('timestamp')
    .orderBy('value');
  if (limit !== undefined) q = q.limit(limit + 1).offset(offset);
  else if (offset) q = q.offset(offset).limit(Number.MAX_SAFE_INTEGER);
  const rows = await q.execute();
  const out = new Array<Metric>(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = metricFromRow(rows[i]);
  return out;
}

/**
 * MLflow's get-history-bulk-interval: up to `maxResults` steps sampled evenly over the union of the runs'
 * steps (in [start, end] when given), plus each run's first and last step, and every point at those steps.
 */
export async function metricHistoryBulkInterval(
  db: Db,
  runIds: string[],
  key: string,
  maxResults: number,
  startStep?: number,
  endStep?: number,
): Promise<MetricWithRunId[]> {
  let stepsQ = db.selectFrom('metrics').select('step').distinct().where('run_uuid', 'in', runIds).where('key', '=', key);
  if (startStep !== undefined && endStep !== undefined) stepsQ = stepsQ.where('step', '>=', startStep).where('step', '<=', endStep);
  const allSteps = (await stepsQ.orderBy('step').execute()).map((r) => Number(r.step));
  if (!allSteps.length) return [];
  const wanted = new Set<number>(sampleEvenly(allSteps, maxResults));
  let boundsQ = db
    .selectFrom('metrics')
    .select((eb) => ['run_uuid', eb.fn.min('step').as('min_step'), eb.fn.max('step').as('max_step')])
    .where('run_uuid', 'in', runIds)
    .where('key', '=', key)
    .groupBy('run_uuid');
  if (startStep !== undefined && endStep !== undefined) boundsQ = boundsQ.where('step', '>=', startStep).where('step', '<=', endStep);
  for (const b of await boundsQ.execute()) {
    wanted.add(Number(b.min_step));
    wanted.add(Number(b.max_step));
  }
  const steps = [...wanted].sort((a, b) => a - b);
  const out: MetricWithRunId[] = [];
  for (let i = 0; i < steps.length; i += 900) {
    const rows = await db
      .selectFrom('metrics')
      .select(['run_uuid', 'key', 'value', 'is_nan', 'timestamp', 'step'])
      .where('run_uuid', 'in', runIds)
      .where('key', '=', key)
      .where('step', 'in', steps.slice(i, i + 900))
      .execute();
    for (const r of rows) out.push({ ...metricFromRow(r), run_id: r.run_uuid });
  }
  const order = new Map(runIds.map((id, i) => [id, i]));
  out.sort((a, b) => order.get(a.run_id)! - order.get(b.run_id)! || a.step - b.step || a.timestamp - b.timestamp);
  return out;
}

/** `n` items spread evenly over `sorted`, always including the first and the last. */
export function sampleEvenly(sorted: number[], n: number): number[] {
  if (sorted.length <= n) return sorted;
  if (n === 1) return [sorted[0]];
  const out: number[] = [];
  const stride = (sorted.length - 1) / (n - 1);
  for (let i = 0; i < n; i++) out.push(sorted[Math.round(i * stride)]);
  return out;
}
