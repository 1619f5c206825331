import type BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import { RUN_NAME_TAG, type KeyValue, type Metric } from './entities.js';
import { paramChanged, runNotActive, runNotFound } from './run-errors.js';
import { LATEST_IS_NEWER, latestPerKey, storedValue } from './sql-metrics.js';

const ROWS_PER_STATEMENT = 100;

export interface RunWrite {
  params: KeyValue[];
  metrics: Metric[];
  tags: KeyValue[];
}

/**
 * SQLite's path for the hot logging calls (log-metric, log-batch): one synchronous better-sqlite3
 * transaction of prepared statements, run while Kysely holds the store's single connection. Query building
 * and an await per statement cost more than SQLite's own work here. The rules are the Kysely path's
 * (which PostgreSQL takes), and both run the same tests.
 */
export class SqliteRunWriter {
  #statements?: ReturnType<SqliteRunWriter['prepare']>;
  readonly #write: (runId: string, w: RunWrite) => void;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly sqlite: BetterSqlite3.Database,
  ) {
    // IMMEDIATE takes the write lock at BEGIN, so another process's writer makes us wait (busy_timeout)
    // instead of failing a read-then-write upgrade.
    const tx = sqlite.transaction((runId: string, w: RunWrite) => this.writeNow(runId, w));
    this.#write = (runId, w) => tx.immediate(runId, w);
  }

  /** Logs into an active run atomically; throws the same FlywheelErrors as the Kysely path. */
  async write(runId: string, w: RunWrite): Promise<void> {
    await this.db.connection().execute(async () => this.#write(runId, w));
  }

  private prepare() {
    const s = this.sqlite;
    const historyInserts = new Map<number, BetterSqlite3.Statement>();
    return {
      run: s.prepare('select run_key, lifecycle_stage from runs where run_uuid = ?'),
      param: s.prepare('select value from params where run_uuid = ? and key = ?').pluck(),
      insertParam: s.prepare('insert into params (run_uuid, key, value) values (?, ?, ?)'),
      tag: s.prepare('insert into tags (run_uuid, key, value) values (?, ?, ?) on conflict (run_uuid, key) do update set value = excluded.value'),
      runName: s.prepare('update runs set name = ? where run_uuid = ?'),
      latest: s.prepare(
        `insert into latest_metrics (run_uuid, key, value, is_nan, timestamp, step) values (?, ?, ?, ?, ?, ?)
         on conflict (run_uuid, key) do update set value = excluded.value, is_nan = excluded.is_nan,
           timestamp = excluded.timestamp, step = excluded.step where ${LATEST_IS_NEWER}`,
      ),
      /** A multi-row history insert of `rows` rows, prepared once per size. */
      history(rows: number): BetterSqlite3.Statement {
        let stmt = historyInserts.get(rows);
        if (!stmt) {
          const values = Array(rows).fill('(?, ?, ?, ?, ?, ?)').join(', ');
          stmt = s.prepare(`insert into metrics (run_key, key, value, is_nan, timestamp, step) values ${values} on conflict do nothing`);
          historyInserts.set(rows, stmt);
        }
        return stmt;
      },
    };
  }

  private writeNow(runId: string, { params, metrics, tags }: RunWrite): void {
    const st = (this.#statements ??= this.prepare());
    const run = st.run.get(runId) as { run_key: number; lifecycle_stage: string } | undefined;
    if (!run) throw runNotFound(runId);
    if (run.lifecycle_stage !== 'active') throw runNotActive(runId, run.lifecycle_stage);

    for (const p of params) {
      const old = st.param.get(runId, p.key) as string | undefined;
      if (old === undefined) st.insertParam.run(runId, p.key, p.value);
      else if (old !== p.value) throw paramChanged(runId, p.key, old, p.value);
    }

    if (metrics.length) {
      // In primary-key order, consecutive rows land next to each other in the B-tree.
      const sorted = metrics.slice().sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.step - b.step));
      for (let i = 0; i < sorted.length; i += ROWS_PER_STATEMENT) {
        const chunk = sorted.slice(i, i + ROWS_PER_STATEMENT);
        const args: unknown[] = [];
        for (const m of chunk) args.push(run.run_key, m.key, storedValue(m.value), Number.isNaN(m.value) ? 1 : 0, m.timestamp, m.step);
        st.history(chunk.length).run(args);
      }
      for (const m of latestPerKey(metrics)) {
        st.latest.run(runId, m.key, storedValue(m.value), Number.isNaN(m.value) ? 1 : 0, m.timestamp, m.step);
      }
    }

    let name: string | undefined;
    for (const t of tags) {
      st.tag.run(runId, t.key, t.value);
      if (t.key === RUN_NAME_TAG) name = t.value;
    }
    if (name !== undefined) st.runName.run(name, runId);
  }
}
