import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlywheelError } from '../src/core/errors.js';
import type { Database } from '../src/store/index.js';
import { searchLoggedModelIds } from '../src/tracking/search/index.js';
import type { SearchLoggedModelsRequest } from '../src/tracking/service.js';
import { DIALECTS, freshStore, type TestStore } from './helpers/stores.js';

interface ModelSeed {
  id: string;
  exp?: number;
  name: string;
  created: number;
  updated?: number;
  stage?: string;
  status?: string;
  type?: string | null;
  run?: string | null;
  params?: Record<string, string>;
  tags?: Record<string, string>;
}

const MODELS: ModelSeed[] = [
  { id: 'm-1', name: 'model', created: 100, run: 'r1', type: 'sklearn', status: 'LOGGED_MODEL_READY' },
  { id: 'm-2', name: 'model', created: 200, run: 'r2', status: 'LOGGED_MODEL_PENDING', params: { alpha: '0.5' } },
  { id: 'm-3', name: 'other', created: 300, updated: 900, type: 'pytorch', tags: { stage: 'prod' }, params: { alpha: '1' } },
  { id: 'm-4', name: 'model', created: 400, stage: 'deleted' },
  { id: 'm-5', name: 'model', created: 500, exp: 2 },
  { id: 'm-6', name: 'Model', created: 200, tags: { stage: 'dev' } },
];

for (const dialect of DIALECTS) {
  describe(`searchLoggedModelIds on ${dialect}`, () => {
    let t: TestStore;
    let db: Kysely<Database>;
    const search = (req: Partial<SearchLoggedModelsRequest>) =>
      searchLoggedModelIds(db, dialect, { experiment_ids: ['1'], ...req });
    const ids = async (req: Partial<SearchLoggedModelsRequest>) => (await search(req)).ids;
    const where = (filter: string) => ids({ filter });

    beforeAll(async () => {
      t = await freshStore(dialect);
      db = t.store.db;
      for (const id of [1, 2]) {
        await db
          .insertInto('experiments')
          .values({ experiment_id: id, name: `e${id}`, artifact_location: 'x', lifecycle_stage: 'active', creation_time: 0, last_update_time: 0 })
          .execute();
      }
      for (const m of MODELS) {
        await db
          .insertInto('logged_models')
          .values({
            model_id: m.id,
            experiment_id: m.exp ?? 1,
            name: m.name,
            artifact_location: `/m/${m.id}`,
            creation_timestamp_ms: m.created,
            last_updated_timestamp_ms: m.updated ?? m.created,
            status: m.status ?? 'LOGGED_MODEL_READY',
            lifecycle_stage: m.stage ?? 'active',
            model_type: m.type ?? null,
            source_run_id: m.run ?? null,
            status_message: null,
            creator_id: null,
          })
          .execute();
        for (const [key, value] of Object.entries(m.params ?? {})) {
          await db.insertInto('logged_model_params').values({ model_id: m.id, key, value }).execute();
        }
        for (const [key, value] of Object.entries(m.tags ?? {})) {
          await db.insertInto('logged_model_tags').values({ model_id: m.id, key, value }).execute();
        }
      }
    });
    afterAll(async () => {
      await t?.dispose();
    });

    it('answers the MLflow 3 client’s run-artifact lookup', async () => {
      expect(await searchLoggedModelIds(db, dialect, { experiment_ids: ['1'], filter: "name = 'model'" })).toEqual({
        ids: ['m-2', 'm-1'],
      });
    });

    it('lists active models newest first, then by model_id', async () => {
      expect(await ids({})).toEqual(['m-3', 'm-2', 'm-6', 'm-1']);
      expect(await ids({ experiment_ids: ['1', '2'] })).toEqual(['m-5', 'm-3', 'm-2', 'm-6', 'm-1']);
      expect(await ids({ experiment_ids: [] })).toEqual([]);
      expect(await ids({ experiment_ids: ['x'] })).toEqual([]);
    });

    it('filters on attributes', async () => {
      expect(await where("name LIKE 'M%'")).toEqual(['m-6']);
      expect(await where("name ILIKE 'm%'")).toEqual(['m-2', 'm-6', 'm-1']);
      expect(await where("model_id = 'm-3'")).toEqual(['m-3']);
      expect(await where("model_type = 'sklearn'")).toEqual(['m-1']);
      expect(await where("model_type != 'sklearn'")).toEqual(['m-3']);
      expect(await where("status = 'LOGGED_MODEL_PENDING'")).toEqual(['m-2']);
      expect(await where("source_run_id = 'r1'")).toEqual(['m-1']);
      expect(await where('creation_timestamp >= 200')).toEqual(['m-3', 'm-2', 'm-6']);
      expect(await where('creation_time < 200')).toEqual(['m-1']);
      expect(await where('last_updated_timestamp > 500')).toEqual(['m-3']);
      expect(await where("attributes.name = 'other' and last_updated_time = 900")).toEqual(['m-3']);
    });

    it('filters on params and tags', async () => {
      expect(await where("params.alpha = '1'")).toEqual(['m-3']);
      expect(await where("params.alpha LIKE '%.%'")).toEqual(['m-2']);
      expect(await where("tags.stage != 'prod'")).toEqual(['m-6']);
      expect(await where("tags.stage ILIKE 'PROD' and params.alpha = '1'")).toEqual(['m-3']);
    });

    it('orders by {field_name, ascending}', async () => {
      expect(await ids({ order_by: [{ field_name: 'creation_timestamp', ascending: true }] })).toEqual(['m-1', 'm-2', 'm-6', 'm-3']);
      expect(await ids({ order_by: [{ field_name: 'name' }] })).toEqual(['m-6', 'm-2', 'm-1', 'm-3']);
      expect(await ids({ order_by: [{ field_name: 'model_type', ascending: false }] })).toEqual(['m-1', 'm-3', 'm-2', 'm-6']);
      expect(await ids({ order_by: [{ field_name: 'model_id', ascending: false }] })).toEqual(['m-6', 'm-3', 'm-2', 'm-1']);
      expect(await ids({ order_by: [{ field_name: 'last_updated_timestamp', ascending: false }] })).toEqual([
        'm-3',
        'm-2',
        'm-6',
        'm-1',
      ]);
    });

    it('defaults max_results to 50 and pages', async () => {
      const page = await search({ max_results: 3 });
      expect(page.ids).toEqual(['m-3', 'm-2', 'm-6']);
      expect(await search({ max_results: 3, page_token: page.nextPageToken })).toEqual({ ids: ['m-1'] });
      expect((await search({})).nextPageToken).toBeUndefined();
    });

    it('refuses what it cannot answer with INVALID_PARAMETER_VALUE', async () => {
      for (const req of [
        { filter: 'metrics.acc > 0.5' },
        { order_by: [{ field_name: 'metrics.acc' }] },
        { order_by: [{ field_name: 'bogus' }] },
        { filter: "name > 'a'" },
        { max_results: 0 },
        { page_token: 'nope?' },
      ]) {
        await expect(search(req)).rejects.toSatisfy(
          (e: unknown) => e instanceof FlywheelError && e.code === 'INVALID_PARAMETER_VALUE',
        );
      }
    });
  });
}
