import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlywheelError } from '../src/core/errors.js';
import type { Database, StoreDialect } from '../src/store/index.js';
import { searchRunIds } from '../src/tracking/search/index.js';
import type { SearchRunsRequest } from '../src/tracking/service.js';
import { DIALECTS, freshStore, type TestStore } from './helpers/stores.js';

interface RunSeed {
  id: string;
  exp?: number;
  name?: string;
  user?: string;
  status?: string;
  start: number;
  end?: number | null;
  stage?: string;
  artifact?: string;
  metrics?: Record<string, number>;
  params?: Record<string, string>;
  tags?: Record<string, string>;
}

async function seedExperiments(db: Kysely<Database>, ids: number[]): Promise<void> {
  await db
    .insertInto('experiments')
    .values(
      ids.map((id) => ({
        experiment_id: id,
        name: `exp-${id}`,
        artifact_location: `/tmp/${id}`,
        lifecycle_stage: 'active',
        creation_time: 0,
        last_update_time: 0,
      })),
    )
    .execute();
}

async function seedRuns(db: Kysely<Database>, runs: RunSeed[]): Promise<void> {
  for (const r of runs) {
    await db
      .insertInto('runs')
      .values({
        run_uuid: r.id,
        name: r.name ?? r.id,
        experiment_id: r.exp ?? 1,
        user_id: r.user ?? 'u',
        status: r.status ?? 'FINISHED',
        start_time: r.start,
        end_time: r.end ?? null,
        deleted_time: null,
        lifecycle_stage: r.stage ?? 'active',
        artifact_uri: r.artifact ?? `/art/${r.id}`,
      })
      .execute();
    for (const [key, value] of Object.entries(r.metrics ?? {})) {
      const nan = Number.isNaN(value);
      await db
        .insertInto('latest_metrics')
        .values({ run_uuid: r.id, key, value: nan ? 0 : value, is_nan: nan ? 1 : 0, timestamp: 1, step: 0 })
        .execute();
    }
    for (const [key, value] of Object.entries(r.params ?? {})) {
      await db.insertInto('params').values({ run_uuid: r.id, key, value }).execute();
    }
    for (const [key, value] of Object.entries(r.tags ?? {})) {
      await db.insertInto('tags').values({ run_uuid: r.id, key, value }).execute();
    }
  }
}

async function seedDatasetInput(
  db: Kysely<Database>,
  input: string,
  dataset: { id: string; name: string; digest: string },
  run: string,
  context?: string,
): Promise<void> {
  const existing = await db.selectFrom('datasets').select('dataset_uuid').where('dataset_uuid', '=', dataset.id).executeTakeFirst();
  if (!existing) {
    await db
      .insertInto('datasets')
      .values({
        dataset_uuid: dataset.id,
        experiment_id: 1,
        name: dataset.name,
        digest: dataset.digest,
        dataset_source_type: 'local',
        dataset_source: '{}',
        dataset_schema: null,
        dataset_profile: null,
      })
      .execute();
  }
  await db
    .insertInto('inputs')
    .values({ input_uuid: input, source_type: 'DATASET', source_id: dataset.id, destination_type: 'RUN', destination_id: run })
    .execute();
  if (context) await db.insertInto('input_tags').values({ input_uuid: input, name: 'mlflow.data.context', value: context }).execute();
}

/** The fixture: four active runs in experiment 1 (a..d), one deleted (e), one in experiment 2 (f). */
const RUNS: RunSeed[] = [
  {
    id: 'a',
    name: 'alpha',
    user: 'alice',
    status: 'FINISHED',
    start: 1000,
    end: 2000,
    artifact: 's3://b/a',
    metrics: { acc: 0.9, loss: 0.1 },
    params: { model: 'cnn', lr: '0.01' },
    tags: { 'mlflow.user': 'alice', team: 'Red' },
  },
  {
    id: 'b',
    name: 'beta',
    user: 'bob',
    status: 'FAILED',
    start: 2000,
    metrics: { acc: 0.5, loss: Number.NaN },
    params: { model: 'CNN', lr: '0.1' },
    tags: { team: 'red' },
  },
  {
    id: 'c',
    name: 'gamma',
    user: 'carol',
    status: 'RUNNING',
    start: 3000,
    end: 3500,
    metrics: { acc: Number.NaN },
    params: { model: 'rnn' },
    tags: { team: 'blue%' },
  },
  { id: 'd', name: 'delta', user: 'dave', status: 'FINISHED', start: 3000, end: 4000, params: { model: 'c_n' } },
  { id: 'e', start: 5000, stage: 'deleted', metrics: { acc: 0.99 }, params: { model: 'cnn' } },
  { id: 'f', exp: 2, start: 6000, metrics: { acc: 0.7 }, params: { model: 'cnn' } },
];

for (const dialect of DIALECTS) {
  describe(`searchRunIds on ${dialect}`, () => {
    let t: TestStore;
    let db: Kysely<Database>;
    const search = (req: Partial<SearchRunsRequest>) =>
      searchRunIds(db, dialect as StoreDialect, { experiment_ids: ['1'], ...req });
    const ids = async (req: Partial<SearchRunsRequest>) => (await search(req)).runIds;
    const where = (filter: string) => ids({ filter });
    const order = (...order_by: string[]) => ids({ order_by });

    beforeAll(async () => {
      t = await freshStore(dialect);
      db = t.store.db;
      await seedExperiments(db, [1, 2, 3]);
      await seedRuns(db, RUNS);
      const train = { id: 'ds1', name: 'train-set', digest: 'abc123' };
      const evalSet = { id: 'ds2', name: 'eval', digest: 'def456' };
      await seedDatasetInput(db, 'i1', train, 'a', 'training');
      await seedDatasetInput(db, 'i2', evalSet, 'b', 'eval');
      await seedDatasetInput(db, 'i3', train, 'c', 'training');
      await seedDatasetInput(db, 'i4', evalSet, 'c');
    });
    afterAll(async () => {
      await t?.dispose();
    });

    describe('scope', () => {
      it('orders by start_time DESC then run id by default', async () => {
        expect(await ids({})).toEqual(['c', 'd', 'b', 'a']);
      });

      it('honours run_view_type', async () => {
        expect(await ids({ run_view_type: 'ACTIVE_ONLY' })).toEqual(['c', 'd', 'b', 'a']);
        expect(await ids({ run_view_type: 'DELETED_ONLY' })).toEqual(['e']);
        expect(await ids({ run_view_type: 'ALL' })).toEqual(['e', 'c', 'd', 'b', 'a']);
      });

      it('searches several experiments; unknown and non-numeric ids match nothing', async () => {
        expect(await ids({ experiment_ids: ['1', '2'] })).toEqual(['f', 'c', 'd', 'b', 'a']);
        expect(await ids({ experiment_ids: ['2', 'abc', '99999999999999999999'] })).toEqual(['f']);
        expect(await ids({ experiment_ids: ['abc'] })).toEqual([]);
        expect(await ids({ experiment_ids: ['3'] })).toEqual([]);
        expect(await ids({ experiment_ids: [] })).toEqual([]);
        expect(await ids({ experiment_ids: ['999'], filter: 'metrics.acc > 0', order_by: ['metrics.acc'] })).toEqual([]);
      });

      it('accepts long experiment id lists', async () => {
        const many = Array.from({ length: 300 }, (_, i) => String(i + 10));
        expect(await ids({ experiment_ids: [...many, '2'] })).toEqual(['f']);
      });
    });

    describe('metrics', () => {
      it('compares the latest value; NaN and missing never match', async () => {
        expect(await where('metrics.acc > 0.4')).toEqual(['b', 'a']);
        expect(await where('metrics.acc >= 0.9')).toEqual(['a']);
        expect(await where('metrics.acc = 0.9')).toEqual(['a']);
        expect(await where('metrics.acc <= 0.5')).toEqual(['b']);
        expect(await where('metrics.acc < 100')).toEqual(['b', 'a']);
        expect(await where('metrics.acc != 0.5')).toEqual(['a']);
        expect(await where('metrics.loss < 1')).toEqual(['a']);
        expect(await where('metrics.loss != 1')).toEqual(['a']);
        expect(await where('metrics.acc > -1e3')).toEqual(['b', 'a']);
        expect(await where('metrics.nope > 0')).toEqual([]);
        expect(await where('metric.acc > 1e400')).toEqual([]);
        expect(await where('metric.acc > -1e400')).toEqual(['b', 'a']);
      });
    });

    describe('params and tags', () => {
      it('compares strings exactly and case-sensitively', async () => {
        expect(await where("params.model = 'cnn'")).toEqual(['a']);
        expect(await where("params.model != 'cnn'")).toEqual(['c', 'd', 'b']);
        expect(await where("tags.team = 'red'")).toEqual(['b']);
        expect(await where("tags.`mlflow.user` = 'alice'")).toEqual(['a']);
        expect(await where("parameter.model = 'CNN'")).toEqual(['b']);
      });

      it('LIKE is case-sensitive with % and _, ILIKE is not', async () => {
        expect(await where("params.model LIKE 'c%'")).toEqual(['d', 'a']);
        expect(await where("params.model LIKE 'c_n'")).toEqual(['d', 'a']);
        expect(await where("params.model LIKE 'c\\_n'")).toEqual(['d']);
        expect(await where("params.model ILIKE 'c%'")).toEqual(['d', 'b', 'a']);
        expect(await where("params.model ILIKE 'CNN'")).toEqual(['b', 'a']);
        expect(await where("tags.team ILIKE 'RED'")).toEqual(['b', 'a']);
        expect(await where("tags.team LIKE 'blue\\%'")).toEqual(['c']);
        expect(await where("tags.team LIKE 'blue%'")).toEqual(['c']);
        expect(await where("tags.team LIKE '%e%'")).toEqual(['c', 'b', 'a']);
        expect(await where("params.model LIKE '[c]*'")).toEqual([]);
      });

      it('IS NULL means the key is absent', async () => {
        expect(await where('params.lr IS NULL')).toEqual(['c', 'd']);
        expect(await where('params.lr IS NOT NULL')).toEqual(['b', 'a']);
        expect(await where('tags.team IS NULL')).toEqual(['d']);
        expect(await where('tags.team is not null and params.lr is null')).toEqual(['c']);
      });
    });

    describe('attributes', () => {
      it('filters string attributes', async () => {
        expect(await where("status = 'FINISHED'")).toEqual(['d', 'a']);
        expect(await where("attributes.status != 'FINISHED'")).toEqual(['c', 'b']);
        expect(await where("run_name LIKE '%a'")).toEqual(['c', 'd', 'b', 'a']);
        expect(await where("`Run name` = 'beta'")).toEqual(['b']);
        expect(await where("user_id ILIKE 'ALICE'")).toEqual(['a']);
        expect(await where("artifact_uri = 's3://b/a'")).toEqual(['a']);
        expect(await where("run_id = 'b'")).toEqual(['b']);
        expect(await where("run_id IN ('a', 'c', 'zzz')")).toEqual(['c', 'a']);
        expect(await where("run_id NOT IN ('a')")).toEqual(['c', 'd', 'b']);
        const many = Array.from({ length: 200 }, (_, i) => `'x${i}'`).join(',');
        expect(await where(`run_id IN (${many}, 'd')`)).toEqual(['d']);
        expect(await where(`run_id NOT IN (${many}, 'd')`)).toEqual(['c', 'b', 'a']);
        const weird = ['\ud800', '🤖', '"', "''", '\\', '{a,b}', 'NULL', '%', ',', ')', '[x]', 'é'];
        const list = Array.from({ length: 60 }, (_, i) => `'${weird[i % weird.length]}${i}'`).join(', ');
        expect(await where(`run_id IN (${list}, 'b')`)).toEqual(['b']);
        // (A lone backslash before the closing quote would escape it, so it only appears with a suffix.)
        const bare = weird.filter((w) => w !== '\\').map((w) => `'${w}'`);
        expect(await where(`run_id IN (${bare.join(', ')}, 'b')`)).toEqual(['b']);
      });

      it('filters numeric attributes; a missing end_time never matches', async () => {
        expect(await where('start_time >= 3000')).toEqual(['c', 'd']);
        expect(await where('created < 2000')).toEqual(['a']);
        expect(await where('start_time = 2000.0')).toEqual(['b']);
        expect(await where('start_time > 1999.5')).toEqual(['c', 'd', 'b']);
        expect(await where('end_time > 1000')).toEqual(['c', 'd', 'a']);
        expect(await where('end_time != 2000')).toEqual(['c', 'd']);
        expect(await where('start_time < 1e30')).toEqual(['c', 'd', 'b', 'a']);
      });
    });

    describe('datasets', () => {
      it('filters on the datasets a run used and their context', async () => {
        expect(await where("dataset.name = 'train-set'")).toEqual(['c', 'a']);
        expect(await where("datasets.digest IN ('def456')")).toEqual(['c', 'b']);
        expect(await where("dataset.context = 'training'")).toEqual(['c', 'a']);
        expect(await where("dataset.context LIKE 'ev%'")).toEqual(['b']);
        expect(await where("dataset.name != 'eval'")).toEqual(['c', 'a']);
        expect(await where("dataset.name NOT IN ('eval', 'train-set')")).toEqual([]);
        expect(await where("dataset.name ILIKE 'TRAIN%' and dataset.context = 'training'")).toEqual(['c', 'a']);
      });
    });

    it('combines clauses with AND', async () => {
      expect(await where("metrics.acc > 0 and params.model ILIKE 'cnn'")).toEqual(['b', 'a']);
      expect(await where("metrics.acc > 0 AND params.model = 'cnn' and tags.team = 'Red' and status = 'FINISHED'")).toEqual(['a']);
      expect(await where("metrics.acc > 0 and metrics.acc < 0.6 and params.model = 'CNN'")).toEqual(['b']);
    });

    describe('order_by', () => {
      it('sorts metrics with NaN and missing last in both directions', async () => {
        expect(await order('metrics.acc DESC')).toEqual(['a', 'b', 'c', 'd']);
        expect(await order('metrics.acc ASC')).toEqual(['b', 'a', 'c', 'd']);
        expect(await order('metrics.acc')).toEqual(['b', 'a', 'c', 'd']);
        expect(await order('metrics.loss desc')).toEqual(['a', 'b', 'c', 'd']);
        expect(await order('metrics.nope desc')).toEqual(['c', 'd', 'b', 'a']);
      });

      it('sorts params and tags by code point, missing last', async () => {
        expect(await order('params.model ASC')).toEqual(['b', 'd', 'a', 'c']);
        expect(await order('params.model DESC')).toEqual(['c', 'a', 'd', 'b']);
        expect(await order('params.lr DESC')).toEqual(['b', 'a', 'c', 'd']);
        expect(await order('params.lr ASC')).toEqual(['a', 'b', 'c', 'd']);
        expect(await order('tags.team ASC')).toEqual(['a', 'c', 'b', 'd']);
        expect(await order('tags.team DESC')).toEqual(['b', 'c', 'a', 'd']);
      });

      it('sorts attributes; a missing end_time is last', async () => {
        expect(await order('end_time ASC')).toEqual(['a', 'c', 'd', 'b']);
        expect(await order('end_time DESC')).toEqual(['d', 'c', 'a', 'b']);
        expect(await order('start_time ASC')).toEqual(['a', 'b', 'c', 'd']);
        expect(await order('attributes.start_time DESC')).toEqual(['c', 'd', 'b', 'a']);
        expect(await order('created ASC')).toEqual(['a', 'b', 'c', 'd']);
        expect(await order('run_name')).toEqual(['a', 'b', 'd', 'c']);
        expect(await order('status DESC')).toEqual(['c', 'd', 'a', 'b']);
        expect(await order('run_id DESC')).toEqual(['d', 'c', 'b', 'a']);
        expect(await order('user_id')).toEqual(['a', 'b', 'c', 'd']);
      });

      it('applies several keys, then the implicit tiebreaks', async () => {
        expect(await order('status', 'metrics.acc DESC')).toEqual(['b', 'a', 'd', 'c']);
        expect(await order('status', 'metrics.acc ASC')).toEqual(['b', 'a', 'd', 'c']);
        expect(await order('params.lr DESC', 'run_name DESC')).toEqual(['b', 'a', 'c', 'd']);
      });

      it('orders the filtered set when the filter requires the order key', async () => {
        expect(await ids({ filter: 'metrics.acc > 0', order_by: ['metrics.acc ASC'] })).toEqual(['b', 'a']);
        expect(await ids({ filter: 'metrics.acc > 0', order_by: ['metrics.acc DESC'] })).toEqual(['a', 'b']);
        expect(await ids({ filter: "params.model LIKE 'c%'", order_by: ['params.model DESC'] })).toEqual(['a', 'd']);
        expect(await ids({ filter: 'tags.team IS NOT NULL', order_by: ['tags.team'] })).toEqual(['a', 'c', 'b']);
        expect(await ids({ filter: "params.model = 'cnn' and params.model IS NULL", order_by: ['params.model'] })).toEqual([]);
        expect(
          await ids({ filter: 'metrics.acc > 0 and metrics.acc < 0.95', order_by: ['metrics.acc', 'metrics.loss DESC'] }),
        ).toEqual(['b', 'a']);
        expect(await ids({ filter: 'metrics.acc > 0', order_by: ['metrics.acc'], run_view_type: 'ALL' })).toEqual(['b', 'a', 'e']);
      });
    });

    describe('paging', () => {
      it('pages through every run exactly once', async () => {
        for (const order_by of [[], ['metrics.acc DESC'], ['params.model'], ['end_time'], ['tags.team DESC']]) {
          const all = await ids({ order_by, run_view_type: 'ALL', experiment_ids: ['1', '2'] });
          expect(all).toHaveLength(6);
          const seen: string[] = [];
          let token: string | undefined;
          let pages = 0;
          do {
            const page = await search({ order_by, run_view_type: 'ALL', experiment_ids: ['1', '2'], max_results: 4, page_token: token });
            seen.push(...page.runIds);
            token = page.nextPageToken;
            pages++;
          } while (token);
          expect(pages).toBe(2);
          expect(seen).toEqual(all);
        }
      });

      it('gives no token on the last page', async () => {
        const page = await search({ max_results: 4 });
        expect(page.runIds).toHaveLength(4);
        expect(page.nextPageToken).toBeUndefined();
        const first = await search({ max_results: 3 });
        expect(first.nextPageToken).toBeDefined();
        const second = await search({ max_results: 3, page_token: first.nextPageToken });
        expect(second).toEqual({ runIds: ['a'] });
        const beyond = await search({ max_results: 3, page_token: Buffer.from('{"offset": 40}').toString('base64') });
        expect(beyond).toEqual({ runIds: [] });
      });
    });

    describe('request validation', () => {
      const code = async (req: Partial<SearchRunsRequest>) => {
        try {
          await search(req);
        } catch (e) {
          expect(e).toBeInstanceOf(FlywheelError);
          return `${(e as FlywheelError).code}: ${(e as FlywheelError).message}`;
        }
        return 'ok';
      };

      it('refuses bad requests with INVALID_PARAMETER_VALUE', async () => {
        expect(await code({ max_results: 50_001 })).toBe(
          "INVALID_PARAMETER_VALUE: Invalid value 50001 for parameter 'max_results' supplied:  Hint: Value was of type 'int'. See the API docs for more information about request parameters.",
        );
        expect(await code({ max_results: 0 })).toMatch(/^INVALID_PARAMETER_VALUE: Invalid value 0/);
        expect(await code({ max_results: 50_000 })).toBe('ok');
        expect(await code({ page_token: 'garbage!' })).toMatch(/^INVALID_PARAMETER_VALUE: Invalid page token/);
        expect(await code({ run_view_type: 'SOMETIMES' as never })).toMatch(/^INVALID_PARAMETER_VALUE/);
        expect(await code({ filter: "metrics.acc > 'x'" })).toBe(
          "INVALID_PARAMETER_VALUE: Expected numeric value type for metric. Found 'x'",
        );
        expect(await code({ order_by: ['metrics.acc sideways'] })).toBe(
          "INVALID_PARAMETER_VALUE: Invalid ordering key in order_by clause 'metrics.acc sideways'.",
        );
      });

      it('defaults max_results to 1000', async () => {
        const many: RunSeed[] = Array.from({ length: 1001 }, (_, i) => ({ id: `z${String(i).padStart(4, '0')}`, exp: 3, start: i }));
        await db.transaction().execute(async (tx) => {
          await tx
            .insertInto('runs')
            .values(
              many.map((r) => ({
                run_uuid: r.id,
                name: r.id,
                experiment_id: 3,
                user_id: 'u',
                status: 'FINISHED',
                start_time: r.start,
                end_time: null,
                deleted_time: null,
                lifecycle_stage: 'active',
                artifact_uri: 'x',
              })),
            )
            .execute();
        });
        const page = await search({ experiment_ids: ['3'] });
        expect(page.runIds).toHaveLength(1000);
        expect(page.runIds[0]).toBe('z1000');
        expect(page.nextPageToken).toBeDefined();
        const rest = await search({ experiment_ids: ['3'], page_token: page.nextPageToken });
        expect(rest).toEqual({ runIds: ['z0000'] });
      });
    });
  });
}
