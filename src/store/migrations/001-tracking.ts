import { sql, type Kysely } from 'kysely';
import type { StoreMigration } from './index.js';

/** Experiments, runs, params, tags, metrics (history + latest), datasets and inputs, logged models. */
export const tracking: StoreMigration = {
  name: '001-tracking',
  async up(db: Kysely<any>, dialect) {
    const autoId = () => (dialect === 'postgres' ? 'serial' : 'integer');

    await db.schema
      .createTable('experiments')
      .addColumn('experiment_id', autoId(), (c) => {
        const pk = c.primaryKey();
        return dialect === 'sqlite' ? pk.autoIncrement() : pk;
      })
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('artifact_location', 'text', (c) => c.notNull())
      .addColumn('lifecycle_stage', 'text', (c) => c.notNull())
      .addColumn('creation_time', 'bigint', (c) => c.notNull())
      .addColumn('last_update_time', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('experiment_tags')
      .addColumn('experiment_id', 'integer', (c) => c.notNull().references('experiments.experiment_id'))
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('value', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('experiment_tags_pk', ['experiment_id', 'key'])
      .execute();

    // run_uuid is the id clients see; run_key is a compact integer for the metric history, the big table,
    // where a 32-character id on every point would double its size and slow ingest.
    await db.schema
      .createTable('runs')
      .addColumn('run_key', autoId(), (c) => {
        const pk = c.primaryKey();
        return dialect === 'sqlite' ? pk.autoIncrement() : pk;
      })
      .addColumn('run_uuid', 'text', (c) => c.notNull().unique())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('experiment_id', 'integer', (c) => c.notNull().references('experiments.experiment_id'))
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('start_time', 'bigint', (c) => c.notNull())
      .addColumn('end_time', 'bigint')
      .addColumn('deleted_time', 'bigint')
      .addColumn('lifecycle_stage', 'text', (c) => c.notNull())
      .addColumn('artifact_uri', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('runs_lookup')
      .on('runs')
      .columns(['run_uuid', 'experiment_id', 'lifecycle_stage', 'start_time'])
      .execute();
    await db.schema
      .createIndex('runs_experiment_start')
      .on('runs')
      .columns(['experiment_id', 'lifecycle_stage', 'start_time'])
      .execute();

    for (const table of ['params', 'tags']) {
      await db.schema
        .createTable(table)
        .addColumn('run_uuid', 'text', (c) => c.notNull().references('runs.run_uuid'))
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint(`${table}_pk`, ['run_uuid', 'key'])
        .execute();
      // Search compares and sorts text by code point on both dialects (COLLATE "C" on PostgreSQL); the
      // index must use the same collation to serve `ORDER BY params.x`.
      if (dialect === 'postgres') {
        await sql`create index ${sql.ref(`${table}_key_value`)} on ${sql.table(table)} (key, value collate "C")`.execute(db);
      } else {
        await db.schema.createIndex(`${table}_key_value`).on(table).columns(['key', 'value']).execute();
      }
    }
    // Covering index so a run search filtered on params reads no table rows.
    await db.schema.createIndex('params_run_key_value').on('params').columns(['run_uuid', 'key', 'value']).execute();

    // Metric history, clustered by (run, key, step) so a history read is one range scan (SQLite stores it
    // WITHOUT ROWID). As in MLflow, a point identical in every field to one already logged is stored once.
    let metrics = db.schema
      .createTable('metrics')
      .addColumn('run_key', 'integer', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('value', 'double precision', (c) => c.notNull())
      .addColumn('is_nan', 'integer', (c) => c.notNull())
      .addColumn('timestamp', 'bigint', (c) => c.notNull())
      .addColumn('step', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('metrics_pk', ['run_key', 'key', 'step', 'timestamp', 'value', 'is_nan']);
    if (dialect === 'sqlite') metrics = metrics.modifyEnd(sql`without rowid`);
    await metrics.execute();

    await db.schema
      .createTable('latest_metrics')
      .addColumn('run_uuid', 'text', (c) => c.notNull().references('runs.run_uuid'))
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('value', 'double precision', (c) => c.notNull())
      .addColumn('is_nan', 'integer', (c) => c.notNull())
      .addColumn('timestamp', 'bigint', (c) => c.notNull())
      .addColumn('step', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('latest_metrics_pk', ['run_uuid', 'key'])
      .execute();
    // Covering: a search ordered by a metric walks this index and stops at the page size.
    await db.schema
      .createIndex('latest_metrics_key_value')
      .on('latest_metrics')
      .columns(['key', 'value', 'is_nan', 'run_uuid'])
      .execute();

    await db.schema
      .createTable('datasets')
      .addColumn('dataset_uuid', 'text', (c) => c.primaryKey())
      .addColumn('experiment_id', 'integer', (c) => c.notNull().references('experiments.experiment_id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('digest', 'text', (c) => c.notNull())
      .addColumn('dataset_source_type', 'text', (c) => c.notNull())
      .addColumn('dataset_source', 'text', (c) => c.notNull())
      .addColumn('dataset_schema', 'text')
      .addColumn('dataset_profile', 'text')
      .addUniqueConstraint('datasets_identity', ['experiment_id', 'name', 'digest'])
      .execute();

    await db.schema
      .createTable('inputs')
      .addColumn('input_uuid', 'text', (c) => c.primaryKey())
      .addColumn('source_type', 'text', (c) => c.notNull())
      .addColumn('source_id', 'text', (c) => c.notNull())
      .addColumn('destination_type', 'text', (c) => c.notNull())
      .addColumn('destination_id', 'text', (c) => c.notNull())
      .addUniqueConstraint('inputs_link', ['source_type', 'source_id', 'destination_type', 'destination_id'])
      .execute();
    await db.schema
      .createIndex('inputs_destination')
      .on('inputs')
      .columns(['destination_type', 'destination_id'])
      .execute();

    await db.schema
      .createTable('input_tags')
      .addColumn('input_uuid', 'text', (c) => c.notNull().references('inputs.input_uuid'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('value', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('input_tags_pk', ['input_uuid', 'name'])
      .execute();

    await db.schema
      .createTable('logged_models')
      .addColumn('model_id', 'text', (c) => c.primaryKey())
      .addColumn('experiment_id', 'integer', (c) => c.notNull().references('experiments.experiment_id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('artifact_location', 'text', (c) => c.notNull())
      .addColumn('creation_timestamp_ms', 'bigint', (c) => c.notNull())
      .addColumn('last_updated_timestamp_ms', 'bigint', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('lifecycle_stage', 'text', (c) => c.notNull())
      .addColumn('model_type', 'text')
      .addColumn('source_run_id', 'text')
      .addColumn('status_message', 'text')
      .addColumn('creator_id', 'text')
      .execute();
    await db.schema
      .createIndex('logged_models_experiment')
      .on('logged_models')
      .columns(['experiment_id', 'creation_timestamp_ms'])
      .execute();

    for (const table of ['logged_model_tags', 'logged_model_params']) {
      await db.schema
        .createTable(table)
        .addColumn('model_id', 'text', (c) => c.notNull().references('logged_models.model_id'))
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint(`${table}_pk`, ['model_id', 'key'])
        .execute();
    }

    await db.schema
      .createTable('run_outputs')
      .addColumn('run_uuid', 'text', (c) => c.notNull().references('runs.run_uuid'))
      .addColumn('model_id', 'text', (c) => c.notNull())
      .addColumn('step', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('run_outputs_pk', ['run_uuid', 'model_id'])
      .execute();
  },
};
