import type { Kysely } from 'kysely';
import type { StoreMigration } from './index.js';

/**
 * Pipelines: pipeline definitions, pipeline runs, step runs, artifact versions and which step runs
 * consumed them. Ids are text (32 hex characters); times are epoch milliseconds; JSON is stored as text.
 */
export const pipelines: StoreMigration = {
  name: '003-pipelines',
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('pipelines')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('created', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('pipeline_runs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('pipeline_id', 'text', (c) => c.notNull().references('pipelines.id'))
      .addColumn('pipeline_name', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('start_time', 'bigint', (c) => c.notNull())
      .addColumn('end_time', 'bigint')
      .addColumn('params', 'text', (c) => c.notNull())
      .addColumn('tracking_run_id', 'text')
      .addColumn('error', 'text')
      // Who runs it, so a later orchestrator can tell a run whose process died from one still going.
      .addColumn('pid', 'integer', (c) => c.notNull())
      .addColumn('hostname', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('pipeline_runs_pipeline').on('pipeline_runs').columns(['pipeline_name', 'start_time']).execute();
    await db.schema.createIndex('pipeline_runs_status').on('pipeline_runs').columns(['status', 'hostname']).execute();

    await db.schema
      .createTable('step_runs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('pipeline_run_id', 'text', (c) => c.notNull().references('pipeline_runs.id'))
      .addColumn('step_name', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('start_time', 'bigint', (c) => c.notNull())
      .addColumn('end_time', 'bigint')
      .addColumn('params', 'text', (c) => c.notNull())
      .addColumn('code_hash', 'text')
      .addColumn('cache_key', 'text')
      .addColumn('cache_decision', 'text')
      .addColumn('inputs', 'text', (c) => c.notNull())
      .addColumn('outputs', 'text')
      .addColumn('logs', 'text', (c) => c.notNull())
      .addColumn('error', 'text')
      .addColumn('tracking_run_id', 'text')
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('step_runs_pipeline_run').on('step_runs').columns(['pipeline_run_id', 'step_name']).execute();
    await db.schema.createIndex('step_runs_cache_key').on('step_runs').columns(['cache_key', 'status']).execute();

    await db.schema
      .createTable('artifact_versions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('content_hash', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('materializer', 'text', (c) => c.notNull())
      .addColumn('size', 'bigint', (c) => c.notNull())
      .addColumn('uri', 'text', (c) => c.notNull())
      .addColumn('producer_step_run_id', 'text', (c) => c.references('step_runs.id'))
      .addColumn('metadata', 'text', (c) => c.notNull())
      .addColumn('created', 'bigint', (c) => c.notNull())
      .addUniqueConstraint('artifact_versions_name_version', ['name', 'version'])
      .execute();
    await db.schema.createIndex('artifact_versions_content_hash').on('artifact_versions').column('content_hash').execute();
    await db.schema.createIndex('artifact_versions_producer').on('artifact_versions').column('producer_step_run_id').execute();

    await db.schema
      .createTable('artifact_consumers')
      .addColumn('artifact_version_id', 'text', (c) => c.notNull().references('artifact_versions.id'))
      .addColumn('step_run_id', 'text', (c) => c.notNull().references('step_runs.id'))
      .addPrimaryKeyConstraint('artifact_consumers_pk', ['artifact_version_id', 'step_run_id'])
      .execute();
    await db.schema.createIndex('artifact_consumers_step_run').on('artifact_consumers').column('step_run_id').execute();
  },
};
