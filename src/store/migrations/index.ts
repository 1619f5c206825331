import type { Kysely, Migration } from 'kysely';
import type { StoreDialect } from '../database.js';
import { tracking } from './001-tracking.js';
import { registry } from './002-registry.js';
import { pipelines } from './003-pipelines.js';
import { serving } from './004-serving.js';
import { pipelineHeartbeat } from './005-pipeline-heartbeat.js';

export interface StoreMigration {
  name: string;
  up(db: Kysely<any>, dialect: StoreDialect): Promise<void>;
}

/** Every migration, in order. Append only: a released migration is never edited. */
export const MIGRATIONS: StoreMigration[] = [tracking, registry, pipelines, serving, pipelineHeartbeat];

export function kyselyMigrations(dialect: StoreDialect, list: StoreMigration[] = MIGRATIONS): Record<string, Migration> {
  return Object.fromEntries(list.map((m) => [m.name, { up: (db: Kysely<any>) => m.up(db, dialect) }]));
}
