import type { Kysely } from 'kysely';
import type { StoreMigration } from './index.js';

/** The model registry: registered models, versions, tags, aliases, and the promotion history. */
export const registry: StoreMigration = {
  name: '002-registry',
  async up(db: Kysely<any>, dialect) {
    await db.schema
      .createTable('registered_models')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('creation_timestamp', 'bigint', (c) => c.notNull())
      .addColumn('last_updated_timestamp', 'bigint', (c) => c.notNull())
      .addColumn('description', 'text')
      .addColumn('user_id', 'text')
      .execute();

    await db.schema
      .createTable('model_versions')
      .addColumn('name', 'text', (c) => c.notNull().references('registered_models.name').onUpdate('cascade').onDelete('cascade'))
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('creation_timestamp', 'bigint', (c) => c.notNull())
      .addColumn('last_updated_timestamp', 'bigint', (c) => c.notNull())
      .addColumn('user_id', 'text')
      .addColumn('current_stage', 'text', (c) => c.notNull())
      .addColumn('description', 'text')
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('run_id', 'text')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('status_message', 'text')
      .addColumn('run_link', 'text')
      .addColumn('storage_location', 'text')
      .addPrimaryKeyConstraint('model_versions_pk', ['name', 'version'])
      .execute();
    await db.schema.createIndex('model_versions_run_id').on('model_versions').column('run_id').execute();

    await db.schema
      .createTable('registered_model_tags')
      .addColumn('name', 'text', (c) => c.notNull().references('registered_models.name').onUpdate('cascade').onDelete('cascade'))
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('value', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('registered_model_tags_pk', ['name', 'key'])
      .execute();

    await db.schema
      .createTable('model_version_tags')
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('value', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('model_version_tags_pk', ['name', 'version', 'key'])
      .addForeignKeyConstraint('model_version_tags_fk', ['name', 'version'], 'model_versions', ['name', 'version'], (c) =>
        c.onUpdate('cascade').onDelete('cascade'),
      )
      .execute();

    await db.schema
      .createTable('registered_model_aliases')
      .addColumn('name', 'text', (c) => c.notNull().references('registered_models.name').onUpdate('cascade').onDelete('cascade'))
      .addColumn('alias', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('registered_model_aliases_pk', ['name', 'alias'])
      .execute();

    // Promotion history: append-only, kept when a version or model goes (it is the audit trail).
    await db.schema
      .createTable('promotion_events')
      .addColumn('id', dialect === 'postgres' ? 'serial' : 'integer', (c) => {
        const pk = c.primaryKey();
        return dialect === 'sqlite' ? pk.autoIncrement() : pk;
      })
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('target', 'text', (c) => c.notNull())
      .addColumn('from_version', 'integer')
      .addColumn('to_version', 'integer')
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('reason', 'text')
      .addColumn('timestamp', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('promotion_events_name').on('promotion_events').columns(['name', 'id']).execute();
  },
};
