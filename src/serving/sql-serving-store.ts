import type BetterSqlite3 from 'better-sqlite3';
import { sql, type Transaction } from 'kysely';
import { notFound } from '../core/errors.js';
import { nowMs } from '../core/clock.js';
import type { Store } from '../store/database.js';
import type { Database, DeploymentEventTable, DeploymentTable, InferenceLogTable } from '../store/schema.js';
import type { InferenceRecord } from './contracts.js';

/**
 * The inference log and deployments over the relational store (migration 004). The server's
 * `/api/v1/inference-log` and `/api/v1/deployments` routes and the embedded inference-log sink write
 * through here; monitoring reads the same tables.
 */

/** One scoring request as it travels on the wire and into the store (snake_case, as the native API). */
export interface InferenceLogEntry {
  request_id: string;
  timestamp: number;
  model_name: string | null;
  model_version: string | null;
  model_uri: string;
  deployment: string | null;
  variant: string | null;
  protocol: 'mlflow' | 'v2';
  inputs: unknown[];
  outputs: unknown[];
  latency_ms: number;
  status: number;
  error: string | null;
}

/** A stored row of the inference log, JSON decoded. */
export interface InferenceLogRowView {
  request_id: string;
  row_index: number;
  timestamp: number;
  model_name: string | null;
  model_version: string | null;
  model_uri: string;
  deployment: string | null;
  variant: string | null;
  protocol: string;
  features: unknown;
  prediction: unknown;
  latency_ms: number;
  status: number;
  error: string | null;
  request_rows: number;
  received: number;
}

export interface InferenceLogQuery {
  /** The rows of one request (what feedback joins on). */
  requestId?: string;
  modelName?: string;
  deployment?: string;
  /** Inclusive lower bound on `timestamp` (ms). */
  since?: number;
  /** Exclusive upper bound on `timestamp` (ms). */
  until?: number;
  /** Oldest first (default) or newest first. */
  order?: 'asc' | 'desc';
  /** Where the previous page ended. */
  after?: InferenceLogCursor;
  limit: number;
}

/** A keyset position in (timestamp, id) order: pages stay stable while rows keep arriving. */
export interface InferenceLogCursor {
  timestamp: number;
  id: number;
}

/** JSON text that never throws: bigint → string, typed arrays → arrays, NaN/±Infinity → null (as JSON does). */
export function safeJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>);
    return v;
  }) ?? 'null';
}

/** The wire form of a record the serving process made (camelCase contract → snake_case wire). */
export function toInferenceLogEntry(r: InferenceRecord): InferenceLogEntry {
  return {
    request_id: r.requestId,
    timestamp: r.timestamp,
    model_name: r.modelName,
    model_version: r.modelVersion,
    model_uri: r.modelUri,
    deployment: r.deployment,
    variant: r.variant,
    protocol: r.protocol,
    inputs: r.inputs,
    outputs: r.outputs,
    latency_ms: r.latencyMs,
    status: r.status,
    error: r.error ?? null,
  };
}

type LogRow = Omit<InferenceLogTable, 'id'>;

/**
 * One row per predicted row; a request with no rows (an error before parsing) still gets row 0. The entries
 * must be plain JSON values (as parsed from a request): features are written with a plain, fast
 * `JSON.stringify` (see `toInferenceLogEntry` + `safeJson` for records that may hold typed arrays or bigints).
 */
export function inferenceLogRows(entries: InferenceLogEntry[], received: number): LogRow[] {
  const rows: LogRow[] = [];
  for (const e of entries) {
    const n = Math.max(1, e.inputs.length, e.outputs.length);
    for (let i = 0; i < n; i++) {
      const input = e.inputs[i];
      const output = e.outputs[i];
      rows.push({
        request_id: e.request_id,
        row_index: i,
        timestamp: e.timestamp,
        model_name: e.model_name,
        model_version: e.model_version,
        model_uri: e.model_uri,
        deployment: e.deployment,
        variant: e.variant,
        protocol: e.protocol,
        features: input === undefined ? null : JSON.stringify(input),
        prediction: output === undefined ? null : (JSON.stringify(output) ?? null),
        latency_ms: e.latency_ms,
        status: e.status,
        error: e.error,
        request_rows: n,
        received,
      });
    }
  }
  return rows;
}

const LOG_COLUMNS = [
  'request_id', 'row_index', 'timestamp', 'model_name', 'model_version', 'model_uri', 'deployment', 'variant',
  'protocol', 'features', 'prediction', 'latency_ms', 'status', 'error', 'request_rows', 'received',
] as const;
const SQLITE_ROWS_PER_STATEMENT = 100;

/** Deployments whose heartbeat is older than this many intervals are reported LOST. */
export const LOST_AFTER_INTERVALS = 3;
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 10_000;

export interface DeploymentRegistration {
  name: string;
  model_uri: string;
  model_name: string | null;
  model_version: string | null;
  endpoint: string;
  traffic: Record<string, unknown> | null;
  heartbeat_interval_ms: number;
}

export interface DeploymentView {
  name: string;
  model_uri: string;
  model_name: string | null;
  model_version: string | null;
  endpoint: string;
  traffic: Record<string, unknown> | null;
  /** RUNNING, STOPPED, or LOST (RUNNING as stored, but no heartbeat for 3 intervals). */
  status: 'RUNNING' | 'STOPPED' | 'LOST';
  heartbeat_interval_ms: number;
  created: number;
  updated: number;
  last_heartbeat: number;
}

export interface DeploymentEventView {
  kind: string;
  from_version: string | null;
  to_version: string | null;
  detail: unknown;
  timestamp: number;
}

function deploymentView(d: DeploymentTable, now: number): DeploymentView {
  const interval = Number(d.heartbeat_interval_ms);
  const last = Number(d.last_heartbeat);
  const lost = d.status === 'RUNNING' && now - last > LOST_AFTER_INTERVALS * interval;
  return {
    name: d.name,
    model_uri: d.model_uri,
    model_name: d.model_name,
    model_version: d.model_version,
    endpoint: d.endpoint,
    traffic: d.traffic === null ? null : (JSON.parse(d.traffic) as Record<string, unknown>),
    status: lost ? 'LOST' : d.status,
    heartbeat_interval_ms: interval,
    created: Number(d.created),
    updated: Number(d.updated),
    last_heartbeat: last,
  };
}

const jsonOrNull = (v: Record<string, unknown> | null | undefined) => (v === null || v === undefined ? null : safeJson(v));

export class SqlServingStore {
  #sqliteInsert?: (rows: LogRow[]) => number;

  constructor(private readonly store: Store) {}

  private get db() {
    return this.store.db;
  }

  // ---- inference log ----

  /**
   * Stores a batch atomically: all its rows or none. Rows already stored under the same (request_id,
   * row_index) are skipped, so a retried batch does not duplicate. Answers the rows stored and skipped.
   */
  async insertInferenceLog(entries: InferenceLogEntry[], received = nowMs()): Promise<{ stored: number; duplicates: number }> {
    const rows = inferenceLogRows(entries, received);
    if (!rows.length) return { stored: 0, duplicates: 0 };
    let stored: number;
    if (this.store.sqlite) {
      const insert = (this.#sqliteInsert ??= sqliteInserter(this.store.sqlite));
      stored = await this.db.connection().execute(async () => insert(rows));
    } else {
      stored = await this.insertPostgres(rows);
    }
    return { stored, duplicates: rows.length - stored };
  }

  /** PostgreSQL: the rows travel as one array per column through `unnest`, one statement per batch. */
  private async insertPostgres(rows: LogRow[]): Promise<number> {
    const col = <K extends keyof LogRow>(k: K) => rows.map((r) => r[k]);
    const result = await sql`insert into inference_log (${sql.join(LOG_COLUMNS.map((c) => sql.ref(c)))})
      select * from unnest(${col('request_id')}::text[], ${col('row_index')}::int[], ${col('timestamp')}::int8[],
        ${col('model_name')}::text[], ${col('model_version')}::text[], ${col('model_uri')}::text[],
        ${col('deployment')}::text[], ${col('variant')}::text[], ${col('protocol')}::text[], ${col('features')}::text[],
        ${col('prediction')}::text[], ${col('latency_ms')}::float8[], ${col('status')}::int[], ${col('error')}::text[],
        ${col('request_rows')}::int[], ${col('received')}::int8[])
      on conflict (request_id, row_index) do nothing`.execute(this.db);
    return Number(result.numAffectedRows ?? 0);
  }

  /** A page of the log in (timestamp, id) order, filtered by model, deployment and a time window. */
  async listInferenceLog(q: InferenceLogQuery): Promise<{ rows: InferenceLogRowView[]; next?: InferenceLogCursor }> {
    const desc = q.order === 'desc';
    let query = this.db.selectFrom('inference_log').selectAll();
    if (q.requestId !== undefined) query = query.where('request_id', '=', q.requestId);
    if (q.modelName !== undefined) query = query.where('model_name', '=', q.modelName);
    if (q.deployment !== undefined) query = query.where('deployment', '=', q.deployment);
    if (q.since !== undefined) query = query.where('timestamp', '>=', q.since);
    if (q.until !== undefined) query = query.where('timestamp', '<', q.until);
    if (q.after) {
      const { timestamp, id } = q.after;
      query = query.where(sql<boolean>`(${sql.ref('timestamp')}, ${sql.ref('id')}) ${sql.raw(desc ? '<' : '>')} (${timestamp}, ${id})`);
    }
    const dir = desc ? 'desc' : 'asc';
    const found = await query.orderBy('timestamp', dir).orderBy('id', dir).limit(q.limit + 1).execute();
    const page = found.slice(0, q.limit);
    const last = page[page.length - 1];
    const rows = page.map((r) => ({
      request_id: r.request_id,
      row_index: Number(r.row_index),
      timestamp: Number(r.timestamp),
      model_name: r.model_name,
      model_version: r.model_version,
      model_uri: r.model_uri,
      deployment: r.deployment,
      variant: r.variant,
      protocol: r.protocol,
      features: r.features === null ? null : (JSON.parse(r.features) as unknown),
      prediction: r.prediction === null ? null : (JSON.parse(r.prediction) as unknown),
      latency_ms: Number(r.latency_ms),
      status: Number(r.status),
      error: r.error,
      request_rows: Number(r.request_rows),
      received: Number(r.received),
    }));
    return found.length > q.limit && last ? { rows, next: { timestamp: Number(last.timestamp), id: Number(last.id) } } : { rows };
  }

  /**
   * Every row matching `q` (its `limit` is the page size read at a time), in (timestamp, id) order: for
   * monitoring's windows, which read far more rows than one page.
   */
  async *iterateInferenceLog(q: InferenceLogQuery): AsyncGenerator<InferenceLogRowView[]> {
    let after = q.after;
    for (;;) {
      const page = await this.listInferenceLog({ ...q, after });
      if (page.rows.length) yield page.rows;
      if (!page.next) return;
      after = page.next;
    }
  }

  // ---- deployments ----

  /** Creates or replaces a deployment's registration (a restarted serving process registers again). */
  async registerDeployment(d: DeploymentRegistration, now = nowMs()): Promise<DeploymentView> {
    return this.db.transaction().execute(async (tx) => {
      const old = await tx.selectFrom('deployments').select(['model_version']).where('name', '=', d.name).executeTakeFirst();
      const values = {
        model_uri: d.model_uri,
        model_name: d.model_name,
        model_version: d.model_version,
        endpoint: d.endpoint,
        traffic: jsonOrNull(d.traffic),
        status: 'RUNNING' as const,
        heartbeat_interval_ms: d.heartbeat_interval_ms,
        updated: now,
        last_heartbeat: now,
      };
      await tx
        .insertInto('deployments')
        .values({ name: d.name, created: now, ...values })
        .onConflict((oc) => oc.column('name').doUpdateSet(values))
        .execute();
      await this.event(tx, d.name, 'registered', old?.model_version ?? null, d.model_version, { model_uri: d.model_uri, endpoint: d.endpoint }, now);
      const row = await tx.selectFrom('deployments').selectAll().where('name', '=', d.name).executeTakeFirstOrThrow();
      return deploymentView(row, now);
    });
  }

  /**
   * A serving process is alive; with `model_version` or `traffic`, what it serves changed (a hot swap), which
   * goes into the history. A heartbeat also brings a STOPPED or LOST deployment back to RUNNING.
   */
  async heartbeat(
    name: string,
    change: { model_version?: string | null; traffic?: Record<string, unknown> | null } = {},
    now = nowMs(),
  ): Promise<DeploymentView> {
    return this.db.transaction().execute(async (tx) => {
      const old = await tx.selectFrom('deployments').selectAll().where('name', '=', name).executeTakeFirst();
      if (!old) throw notFound(`Deployment '${name}' does not exist`);
      const update: Partial<DeploymentTable> = { last_heartbeat: now, status: 'RUNNING' };
      if (old.status === 'STOPPED') await this.event(tx, name, 'resumed', old.model_version, old.model_version, null, now);
      if (change.model_version !== undefined && change.model_version !== old.model_version) {
        update.model_version = change.model_version;
        update.updated = now;
        await this.event(tx, name, 'version_changed', old.model_version, change.model_version, null, now);
      }
      const traffic = change.traffic === undefined ? undefined : jsonOrNull(change.traffic);
      if (traffic !== undefined && traffic !== old.traffic) {
        update.traffic = traffic;
        update.updated = now;
        await this.event(tx, name, 'traffic_changed', null, null, change.traffic ?? null, now);
      }
      await tx.updateTable('deployments').set(update).where('name', '=', name).execute();
      return deploymentView({ ...old, ...update }, now);
    });
  }

  async stopDeployment(name: string, now = nowMs()): Promise<DeploymentView> {
    return this.db.transaction().execute(async (tx) => {
      const old = await tx.selectFrom('deployments').selectAll().where('name', '=', name).executeTakeFirst();
      if (!old) throw notFound(`Deployment '${name}' does not exist`);
      if (old.status === 'STOPPED') return deploymentView(old, now);
      await tx.updateTable('deployments').set({ status: 'STOPPED', updated: now }).where('name', '=', name).execute();
      await this.event(tx, name, 'stopped', old.model_version, null, null, now);
      return deploymentView({ ...old, status: 'STOPPED', updated: now }, now);
    });
  }

  /** By name; optionally of one registered model. */
  async listDeployments(page: { offset: number; limit: number; modelName?: string }, now = nowMs()): Promise<DeploymentView[]> {
    let q = this.db.selectFrom('deployments').selectAll();
    if (page.modelName !== undefined) q = q.where('model_name', '=', page.modelName);
    const rows = await q.orderBy('name').offset(page.offset).limit(page.limit).execute();
    return rows.map((r) => deploymentView(r, now));
  }

  /** A deployment with its history, newest event first (at most `historyLimit`). */
  async getDeployment(name: string, now = nowMs(), historyLimit = 100): Promise<DeploymentView & { history: DeploymentEventView[] }> {
    const row = await this.db.selectFrom('deployments').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) throw notFound(`Deployment '${name}' does not exist`);
    const events = await this.db
      .selectFrom('deployment_events')
      .selectAll()
      .where('deployment', '=', name)
      .orderBy('id', 'desc')
      .limit(historyLimit)
      .execute();
    return { ...deploymentView(row, now), history: events.map(eventView) };
  }

  private async event(
    tx: Transaction<Database>,
    deployment: string,
    kind: string,
    from: string | null,
    to: string | null,
    detail: Record<string, unknown> | null,
    now: number,
  ): Promise<void> {
    await tx
      .insertInto('deployment_events')
      .values({ deployment, kind, from_version: from, to_version: to, detail: jsonOrNull(detail), timestamp: now })
      .execute();
  }
}

function eventView(e: Omit<DeploymentEventTable, 'id'>): DeploymentEventView {
  return {
    kind: e.kind,
    from_version: e.from_version,
    to_version: e.to_version,
    detail: e.detail === null ? null : (JSON.parse(e.detail) as unknown),
    timestamp: Number(e.timestamp),
  };
}

/**
 * SQLite's path: one synchronous better-sqlite3 transaction of prepared multi-row inserts (see
 * SqliteRunWriter for why), run while Kysely holds the store's single connection.
 */
function sqliteInserter(sqlite: BetterSqlite3.Database): (rows: LogRow[]) => number {
  const statements = new Map<number, BetterSqlite3.Statement>();
  const statement = (n: number) => {
    let stmt = statements.get(n);
    if (!stmt) {
      const one = `(${LOG_COLUMNS.map(() => '?').join(', ')})`;
      stmt = sqlite.prepare(
        `insert into inference_log (${LOG_COLUMNS.map((c) => `"${c}"`).join(', ')}) values ${Array(n).fill(one).join(', ')} ` +
          'on conflict (request_id, row_index) do nothing',
      );
      statements.set(n, stmt);
    }
    return stmt;
  };
  const tx = sqlite.transaction((rows: LogRow[]) => {
    let stored = 0;
    for (let i = 0; i < rows.length; i += SQLITE_ROWS_PER_STATEMENT) {
      const chunk = rows.slice(i, i + SQLITE_ROWS_PER_STATEMENT);
      const args: unknown[] = [];
      for (const r of chunk) for (const c of LOG_COLUMNS) args.push(r[c]);
      stored += statement(chunk.length).run(args).changes;
    }
    return stored;
  });
  return (rows) => tx.immediate(rows);
}
