import type { Kysely } from 'kysely';
import type { StoreMigration } from './index.js';

/**
 * Serving: the inference log (one row per predicted row, what monitoring reads) and deployments (what a
 * serving process registers and heartbeats), with a history of each deployment's changes. Times are epoch
 * milliseconds; JSON is stored as text (as everywhere else in the schema).
 */
export const serving: StoreMigration = {
  name: '004-serving',
  async up(db: Kysely<any>, dialect) {
    await db.schema
      .createTable('inference_log')
      // Insertion order: a tie-breaker for time-ordered pages and the cheap "last N predictions" read.
      .addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', (c) => c.primaryKey())
      .addColumn('request_id', 'text', (c) => c.notNull())
      .addColumn('row_index', 'integer', (c) => c.notNull())
      .addColumn('timestamp', 'bigint', (c) => c.notNull())
      .addColumn('model_name', 'text')
      .addColumn('model_version', 'text')
      .addColumn('model_uri', 'text', (c) => c.notNull())
      .addColumn('deployment', 'text')
      .addColumn('variant', 'text')
      .addColumn('protocol', 'text', (c) => c.notNull())
      .addColumn('features', 'text')
      .addColumn('prediction', 'text')
      .addColumn('latency_ms', 'double precision', (c) => c.notNull())
      .addColumn('status', 'integer', (c) => c.notNull())
      .addColumn('error', 'text')
      // How many rows the request had (row_index < request_rows), and when the server stored it.
      .addColumn('request_rows', 'integer', (c) => c.notNull())
      .addColumn('received', 'bigint', (c) => c.notNull())
      .execute();
    // A retried batch lands on the same keys (idempotent insert), and feedback joins on them.
    await db.schema.createIndex('inference_log_request').on('inference_log').columns(['request_id', 'row_index']).unique().execute();
    // Monitoring's windows: by model, by deployment, or all, over a time range.
    await db.schema.createIndex('inference_log_model_time').on('inference_log').columns(['model_name', 'timestamp', 'id']).execute();
    await db.schema.createIndex('inference_log_deployment_time').on('inference_log').columns(['deployment', 'timestamp', 'id']).execute();
    await db.schema.createIndex('inference_log_time').on('inference_log').columns(['timestamp', 'id']).execute();

    await db.schema
      .createTable('deployments')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('model_uri', 'text', (c) => c.notNull())
      .addColumn('model_name', 'text')
      .addColumn('model_version', 'text')
      .addColumn('endpoint', 'text', (c) => c.notNull())
      .addColumn('traffic', 'text')
      // RUNNING or STOPPED as stored; LOST is derived when read (heartbeat older than 3 intervals).
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('heartbeat_interval_ms', 'bigint', (c) => c.notNull())
      .addColumn('created', 'bigint', (c) => c.notNull())
      .addColumn('updated', 'bigint', (c) => c.notNull())
      .addColumn('last_heartbeat', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('deployments_model').on('deployments').columns(['model_name']).execute();

    await db.schema
      .createTable('deployment_events')
      .addColumn('id', dialect === 'postgres' ? 'serial' : 'integer', (c) => {
        const pk = c.primaryKey();
        return dialect === 'sqlite' ? pk.autoIncrement() : pk;
      })
      .addColumn('deployment', 'text', (c) => c.notNull())
      // 'registered' | 'version_changed' | 'traffic_changed' | 'stopped' | 'resumed'
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('from_version', 'text')
      .addColumn('to_version', 'text')
      .addColumn('detail', 'text')
      .addColumn('timestamp', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('deployment_events_deployment').on('deployment_events').columns(['deployment', 'id']).execute();
  },
};
