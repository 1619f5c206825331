import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlywheelError } from '../src/core/errors.js';
import type { Database } from '../src/store/index.js';
import { searchExperimentIds } from '../src/tracking/search/index.js';
import type { SearchExperimentsRequest } from '../src/tracking/service.js';
import { DIALECTS, freshStore, type TestStore } from './helpers/stores.js';

const EXPERIMENTS = [
  { id: 0, name: 'Default', created: 50, updated: 50, stage: 'active', tags: {} },
  { id: 1, name: 'alpha', created: 100, updated: 900, stage: 'active', tags: { team: 'x', 'mlflow.note.content': 'hi' } },
  { id: 2, name: 'Beta', created: 300, updated: 300, stage: 'active', tags: { team: 'X' } },
  { id: 3, name: 'gamma', created: 200, updated: 200, stage: 'deleted', tags: { team: 'y' } },
  { id: 4, name: 'delta_1', created: 300, updated: 400, stage: 'active', tags: {} },
];

for (const dialect of DIALECTS) {
  describe(`searchExperimentIds on ${dialect}`, () => {
    let t: TestStore;
    let db: Kysely<Database>;
    const search = (req: SearchExperimentsRequest) => searchExperimentIds(db, dialect, req);
    const ids = async (req: SearchExperimentsRequest) => (await search(req)).ids;
    const where = (filter: string) => ids({ filter });

    beforeAll(async () => {
      t = await freshStore(dialect);
      db = t.store.db;
      for (const e of EXPERIMENTS) {
        await db
          .insertInto('experiments')
          .values({
            experiment_id: e.id,
            name: e.name,
            artifact_location: `/a/${e.id}`,
            lifecycle_stage: e.stage,
            creation_time: e.created,
            last_update_time: e.updated,
          })
          .execute();
        for (const [key, value] of Object.entries(e.tags)) {
          await db.insertInto('experiment_tags').values({ experiment_id: e.id, key, value }).execute();
        }
      }
    });
    afterAll(async () => {
      await t?.dispose();
    });

    it('orders by creation_time DESC then experiment_id ASC by default', async () => {
      expect(await ids({})).toEqual([2, 4, 1, 0]);
    });

    it('honours view_type', async () => {
      expect(await ids({ view_type: 'DELETED_ONLY' })).toEqual([3]);
      expect(await ids({ view_type: 'ALL' })).toEqual([2, 4, 3, 1, 0]);
    });

    it('filters on name', async () => {
      expect(await where("name = 'alpha'")).toEqual([1]);
      expect(await where("attribute.name != 'alpha'")).toEqual([2, 4, 0]);
      expect(await where("name LIKE 'a%'")).toEqual([1]);
      expect(await where("name LIKE 'delta\\_%'")).toEqual([4]);
      expect(await where("name ILIKE 'b%'")).toEqual([2]);
      expect(await where("name LIKE '%A%'")).toEqual([]);
      expect(await where("name ILIKE '%A%'")).toEqual([2, 4, 1, 0]);
    });

    it('filters on times', async () => {
      expect(await where('creation_time >= 300')).toEqual([2, 4]);
      expect(await where('creation_time < 100')).toEqual([0]);
      expect(await where('last_update_time > 350 and creation_time > 99')).toEqual([4, 1]);
    });

    it('filters on tags', async () => {
      expect(await where("tags.team = 'x'")).toEqual([1]);
      expect(await where("tag.team ILIKE 'x'")).toEqual([2, 1]);
      expect(await where("tags.team != 'x'")).toEqual([2]);
      expect(await where('tags.team IS NULL')).toEqual([4, 0]);
      expect(await where('tags.team IS NOT NULL')).toEqual([2, 1]);
      expect(await where("tags.`mlflow.note.content` LIKE 'h%'")).toEqual([1]);
    });

    it('orders by the allowed keys', async () => {
      expect(await ids({ order_by: ['name'] })).toEqual([2, 0, 1, 4]);
      expect(await ids({ order_by: ['name DESC'] })).toEqual([4, 1, 0, 2]);
      expect(await ids({ order_by: ['experiment_id DESC'] })).toEqual([4, 2, 1, 0]);
      expect(await ids({ order_by: ['creation_time'] })).toEqual([0, 1, 2, 4]);
      expect(await ids({ order_by: ['last_update_time DESC'] })).toEqual([1, 4, 2, 0]);
    });

    it('pages through every experiment once', async () => {
      const all = await ids({ view_type: 'ALL' });
      const seen: number[] = [];
      let token: string | undefined;
      do {
        const page = await search({ view_type: 'ALL', max_results: 2, page_token: token });
        seen.push(...page.ids);
        token = page.nextPageToken;
      } while (token);
      expect(seen).toEqual(all);
      expect((await search({ max_results: 4 })).nextPageToken).toBeUndefined();
    });

    it('refuses bad requests with INVALID_PARAMETER_VALUE', async () => {
      for (const req of [
        { max_results: 0 },
        { max_results: 50_001 },
        { filter: "attributes.name = 'x'" },
        { filter: "name > 'x'" },
        { order_by: ['tags.team'] },
        { page_token: '!!' },
        { view_type: 'NEVER' as never },
      ]) {
        await expect(search(req)).rejects.toSatisfy(
          (e: unknown) => e instanceof FlywheelError && e.code === 'INVALID_PARAMETER_VALUE',
        );
      }
    });
  });
}
