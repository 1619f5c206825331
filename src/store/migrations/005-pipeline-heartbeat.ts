import type { Kysely } from 'kysely';
import type { StoreMigration } from './index.js';

/**
 * Pipeline runs get a heartbeat (epoch ms), written by the orchestrator while the run is RUNNING, so a run
 * whose orchestrator died on another host can be told from one still going (the pid check works only on
 * the same host). Null on runs recorded before this migration.
 */
export const pipelineHeartbeat: StoreMigration = {
  name: '005-pipeline-heartbeat',
  async up(db: Kysely<any>) {
    await db.schema.alterTable('pipeline_runs').addColumn('heartbeat', 'bigint').execute();
  },
};
