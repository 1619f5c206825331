import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlywheelError } from '../src/core/errors.js';
import type { Database, StoreDialect } from '../src/store/index.js';
import {
  parseExperimentFilter,
  parseLoggedModelFilter,
  parseRunFilter,
  parseRunOrderBy,
  searchExperimentIds,
  searchLoggedModelIds,
  searchRunIds,
} from '../src/tracking/search/index.js';
import type { SearchRunsRequest } from '../src/tracking/service.js';
import { DIALECTS, freshStore, type TestStore } from './helpers/stores.js';
import { mulberry32 } from './helpers/prng.js';

/**
 * Fuzzing: random, grammar-generated and mutated filters. Every call must either answer or throw an
 * INVALID_PARAMETER_VALUE FlywheelError — never another error (an SQL error, a TypeError) — and the data
 * must survive. With PostgreSQL configured, both stores must also give the same answers.
 * Set FLYWHEEL_FUZZ_SEED to replay a run; failures print the seed and the input.
 */
const SEED = Number(process.env.FLYWHEEL_FUZZ_SEED ?? 20240611);

class Gen {
  constructor(readonly rand: () => number) {}
  int(n: number): number {
    return Math.floor(this.rand() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  chance(p: number): boolean {
    return this.rand() < p;
  }
}

const IDENTS = [
  'metrics.acc', 'metric.loss', 'metrics.`val loss`', 'metrics."f1"', 'params.model', 'param.lr', 'parameters.`opt`',
  'tags.team', 'tag.`mlflow.user`', 'tags."a b"', 'attributes.status', 'attr.run_name', 'run.run_id', 'start_time',
  'end_time', 'created', '`Run name`', 'user_id', 'artifact_uri', 'dataset.name', 'datasets.digest', 'dataset.context',
  'foo.bar', 'metrics.', 'lifecycle_stage', 'experiment_id', 'name', 'model_id', 'creation_timestamp', 'attribute.name',
];
const OPS = ['=', '!=', '<', '<=', '>', '>=', 'LIKE', 'ILIKE', 'like', 'IN', 'NOT IN', 'not in', 'IS NULL', 'IS NOT NULL', '==', '<>', 'NOT LIKE', '~'];
const VALUES = [
  "'x'", '"y"', "'cnn'", "'CNN'", "'c%'", "'%n'", "'c_n'", "'c\\_n'", "'\\'", "'%'", "'_'", "'[a]*?'", "''", "'it''s'",
  '1', '0', '-1', '0.5', '1e-3', '-1.5E+3', '1e400', '.5', '5.', 'NaN', 'abc', 'null', 'TRUE',
  "('a', 'b')", "('r00', 'r01',)", '()', "('a' 'b')", '(1, 2)', "('x'", "'; DROP TABLE runs; --'",
  "'\" OR 1=1 --'", "'𝒳ünï'", "'\u202e'", "'%\\'", "'a\\'",
];
const JUNK = [
  'AND', 'and', 'OR', 'or', '(', ')', ';', '--', '/*', '*/', "'", '"', '`', '\\', ',', '.', '%', '_', '*', '?', '[',
  "'; DROP TABLE runs; --", '" OR ""="', 'UNION SELECT 1', '$1', '?', ':name', '\u0000', '\n', '\t', ' ', '🤖', 'é', '𝒳',
  '\ud800', 'ǅ', 'ß', 'İ',
];
const ORDER_KEYS = ['metrics.acc', 'params.model', 'tags.team', 'start_time', 'end_time', 'run_name', 'status', 'run_id', 'metrics.`val loss`', 'created', 'user_id'];

/** A well-formed clause with random (possibly hostile) values. */
function validClause(g: Gen): string {
  const str = () => {
    const parts = ['c', 'n', 'C', 'N', '%', '_', '\\', "''", 'x', 'a', 'red', 'Red', '1', '.', '-', '[', '*', '?', ' '];
    let s = '';
    for (let i = g.int(6); i >= 0; i--) s += g.pick(parts);
    return `'${s}'`;
  };
  const num = () => g.pick(['0', '0.5', '-1', '1e-3', '2', '100', '1e308', '-0.25', '1699999999999', '3.5e2']);
  switch (g.int(7)) {
    case 0:
      return `${g.pick(['metrics.acc', 'metrics.loss', 'metric.`val loss`', 'metrics.missing'])} ${g.pick(['=', '!=', '<', '<=', '>', '>='])} ${num()}`;
    case 1:
      return `${g.pick(['params.model', 'params.lr', 'param.`opt`'])} ${g.pick(['=', '!=', 'LIKE', 'ILIKE'])} ${str()}`;
    case 2:
      return `${g.pick(['tags.team', 'tags.`mlflow.user`'])} ${g.pick(['=', '!=', 'LIKE', 'ILIKE', 'IS NULL', 'IS NOT NULL'])}${g.chance(0.5) ? '' : ` ${str()}`}`.replace(/(NULL) '.*'$/, '$1');
    case 3:
      return `${g.pick(['status', 'run_name', 'user_id', 'artifact_uri', '`Run name`'])} ${g.pick(['=', '!=', 'LIKE', 'ILIKE'])} ${str()}`;
    case 4:
      return `${g.pick(['start_time', 'end_time', 'created'])} ${g.pick(['=', '!=', '<', '<=', '>', '>='])} ${num()}`;
    case 5:
      return `run_id ${g.pick(['IN', 'NOT IN'])} (${Array.from({ length: 1 + g.int(4) }, () => `'r${String(g.int(40)).padStart(2, '0')}'`).join(', ')})`;
    default:
      return `dataset.${g.pick(['name', 'digest'])} ${g.pick(['=', '!=', 'LIKE', 'IN'])} ${g.chance(0.5) ? "('train', 'd1')" : str()}`.replace(
        /(=|LIKE) \(.*\)$/,
        "$1 'train'",
      );
  }
}

function validFilter(g: Gen): string {
  return Array.from({ length: 1 + g.int(3) }, () => validClause(g)).join(g.pick([' and ', ' AND ', '  And\n']));
}

function tokenSoup(g: Gen): string {
  const out: string[] = [];
  for (let i = 1 + g.int(8); i > 0; i--) {
    out.push(g.pick([() => g.pick(IDENTS), () => g.pick(OPS), () => g.pick(VALUES), () => g.pick(JUNK)])());
  }
  return out.join(g.pick([' ', '', '  ', '\t']));
}

function mutate(g: Gen, text: string): string {
  let s = text;
  for (let i = 1 + g.int(3); i > 0; i--) {
    const at = g.int(s.length + 1);
    switch (g.int(5)) {
      case 0:
        s = s.slice(0, at) + s.slice(at + 1 + g.int(3));
        break;
      case 1:
        s = s.slice(0, at) + g.pick(JUNK) + s.slice(at);
        break;
      case 2:
        s = s.slice(0, at) + g.pick([...OPS, ...VALUES]) + s.slice(at);
        break;
      case 3:
        s = s.slice(0, at);
        break;
      default:
        s = s.slice(0, at) + String.fromCharCode(g.int(0x3000)) + s.slice(at);
    }
  }
  return s;
}

function randomFilter(g: Gen): string {
  const r = g.rand();
  if (r < 0.35) return validFilter(g);
  if (r < 0.65) return mutate(g, validFilter(g));
  return tokenSoup(g);
}

function randomRequest(g: Gen): SearchRunsRequest {
  const order_by = g.chance(0.4)
    ? Array.from({ length: g.int(3) }, () =>
        g.chance(0.15) ? mutate(g, g.pick(ORDER_KEYS)) : `${g.pick(ORDER_KEYS)}${g.pick(['', ' ASC', ' desc', ' DESC'])}`,
      )
    : undefined;
  return {
    experiment_ids: g.chance(0.9) ? ['1'] : g.pick([['1', '2'], ['x'], [], ['1', "1; DROP TABLE runs"]]),
    filter: randomFilter(g),
    order_by,
    max_results: g.chance(0.8) ? 1 + g.int(30) : g.pick([undefined, 0, 50_001, 1.5, -3]),
    page_token: g.chance(0.9) ? undefined : g.pick(['eyJvZmZzZXQiOiAxfQ==', 'garbage', "'; DROP TABLE runs; --", '']),
    run_view_type: g.pick(['ACTIVE_ONLY', 'ALL', 'DELETED_ONLY', undefined]),
  };
}

/** Answers, or the error's code when it is a FlywheelError; anything else is rethrown (a failure). */
async function outcome<T>(fn: () => Promise<T> | T): Promise<{ ok: T } | { code: string }> {
  try {
    return { ok: await fn() };
  } catch (e) {
    if (e instanceof FlywheelError) return { code: e.code };
    throw e;
  }
}

async function seed(db: Kysely<Database>): Promise<void> {
  const g = new Gen(mulberry32(7));
  for (const id of [1, 2]) {
    await db
      .insertInto('experiments')
      .values({ experiment_id: id, name: `e${id}`, artifact_location: 'x', lifecycle_stage: 'active', creation_time: id, last_update_time: id })
      .execute();
  }
  await db
    .insertInto('datasets')
    .values({ dataset_uuid: 'd1', experiment_id: 1, name: 'train', digest: 'd1', dataset_source_type: 'local', dataset_source: '{}', dataset_schema: null, dataset_profile: null })
    .execute();
  for (let i = 0; i < 40; i++) {
    const id = `r${String(i).padStart(2, '0')}`;
    await db
      .insertInto('runs')
      .values({
        run_uuid: id,
        name: g.pick(['alpha', 'beta', 'c_n', 'CNN', 'x%y']),
        experiment_id: i % 7 === 0 ? 2 : 1,
        user_id: g.pick(['alice', 'Bob', '']),
        status: g.pick(['FINISHED', 'FAILED', 'RUNNING']),
        start_time: 1_699_999_999_000 + g.int(5) * 1000,
        end_time: g.chance(0.3) ? null : 1_700_000_000_000 + g.int(1000),
        deleted_time: null,
        lifecycle_stage: g.chance(0.15) ? 'deleted' : 'active',
        artifact_uri: `s3://b/${id}`,
      })
      .execute();
    for (const key of ['acc', 'loss', 'val loss']) {
      if (g.chance(0.2)) continue;
      const nan = g.chance(0.15);
      const value = nan ? 0 : g.pick([0, 0.5, 1, -1, 2, 1e308, g.rand()]);
      await db.insertInto('latest_metrics').values({ run_uuid: id, key, value, is_nan: nan ? 1 : 0, timestamp: 0, step: 0 }).execute();
    }
    for (const [key, values] of [
      ['model', ['cnn', 'CNN', 'c_n', 'rnn', 'c%n', 'c\\n']],
      ['lr', ['0.1', '0.01', '1']],
      ['opt', ['adam', 'sgd']],
    ] as const) {
      if (g.chance(0.75)) await db.insertInto('params').values({ run_uuid: id, key, value: g.pick(values) }).execute();
    }
    for (const [key, values] of [
      ['team', ['red', 'Red', 'blue*', '[x]']],
      ['mlflow.user', ['alice', 'bob']],
    ] as const) {
      if (g.chance(0.7)) await db.insertInto('tags').values({ run_uuid: id, key, value: g.pick(values) }).execute();
    }
    if (g.chance(0.5)) {
      await db
        .insertInto('inputs')
        .values({ input_uuid: `i${i}`, source_type: 'DATASET', source_id: 'd1', destination_type: 'RUN', destination_id: id })
        .execute();
    }
  }
}

describe('filter parsers under fuzzing (no database)', () => {
  it('only ever answer or throw INVALID_PARAMETER_VALUE', () => {
    const g = new Gen(mulberry32(SEED));
    const parsers = [parseRunFilter, parseExperimentFilter, parseLoggedModelFilter];
    for (let i = 0; i < 20_000; i++) {
      const filter = randomFilter(g);
      for (const parse of parsers) {
        try {
          parse(filter);
        } catch (e) {
          if (!(e instanceof FlywheelError) || e.code !== 'INVALID_PARAMETER_VALUE') {
            throw new Error(`seed ${SEED}, case ${i}: ${parse.name}(${JSON.stringify(filter)}) threw ${String(e)}`);
          }
        }
      }
      const orderBy = [mutate(g, g.pick(ORDER_KEYS))];
      try {
        parseRunOrderBy(orderBy);
      } catch (e) {
        if (!(e instanceof FlywheelError) || e.code !== 'INVALID_PARAMETER_VALUE') {
          throw new Error(`seed ${SEED}, case ${i}: parseRunOrderBy(${JSON.stringify(orderBy)}) threw ${String(e)}`);
        }
      }
    }
  });
});

describe('searches under fuzzing', () => {
  const stores = new Map<StoreDialect, TestStore>();

  beforeAll(async () => {
    for (const dialect of DIALECTS) {
      const t = await freshStore(dialect);
      await seed(t.store.db);
      stores.set(dialect, t);
    }
  });
  afterAll(async () => {
    for (const t of stores.values()) await t.dispose();
  });

  it('never fail with anything but INVALID_PARAMETER_VALUE, and agree across stores', async () => {
    const g = new Gen(mulberry32(SEED + 1));
    let answered = 0;
    for (let i = 0; i < 2500; i++) {
      const req = randomRequest(g);
      const results: { dialect: string; result: unknown }[] = [];
      for (const [dialect, t] of stores) {
        let result: Awaited<ReturnType<typeof outcome>>;
        try {
          result = await outcome(() => searchRunIds(t.store.db, dialect, req));
        } catch (e) {
          throw new Error(`seed ${SEED}, case ${i} on ${dialect}: ${JSON.stringify(req)} threw ${String(e)}`);
        }
        if ('code' in result) {
          expect(result.code, `seed ${SEED}, case ${i}: ${JSON.stringify(req)}`).toBe('INVALID_PARAMETER_VALUE');
        } else answered++;
        results.push({ dialect, result });
      }
      if (results.length === 2) {
        expect(results[1].result, `seed ${SEED}, case ${i}: ${JSON.stringify(req)} differs across stores`).toEqual(results[0].result);
      }
    }
    expect(answered).toBeGreaterThan(500);
  });

  it('fuzzes experiment and logged-model searches too', async () => {
    const g = new Gen(mulberry32(SEED + 2));
    for (let i = 0; i < 800; i++) {
      const filter = g.chance(0.5) ? randomFilter(g) : mutate(g, g.pick(["name = 'e1'", 'tags.t IS NULL', "name LIKE 'e%'", 'creation_time > 1']));
      for (const [dialect, t] of stores) {
        const calls: (() => Promise<unknown>)[] = [
          () => searchExperimentIds(t.store.db, dialect, { filter, max_results: 1 + g.int(5), order_by: g.chance(0.3) ? [mutate(g, 'name DESC')] : undefined }),
          () => searchLoggedModelIds(t.store.db, dialect, { experiment_ids: ['1'], filter, order_by: g.chance(0.3) ? [{ field_name: mutate(g, 'name') }] : undefined }),
        ];
        for (const run of calls) {
          let result: Awaited<ReturnType<typeof outcome>>;
          try {
            result = await outcome(run);
          } catch (e) {
            throw new Error(`seed ${SEED}, case ${i} on ${dialect}: ${JSON.stringify(filter)} threw ${String(e)}`);
          }
          if ('code' in result) expect(result.code, `seed ${SEED}, case ${i}: ${JSON.stringify(filter)}`).toBe('INVALID_PARAMETER_VALUE');
        }
      }
    }
  });

  it('leaves the data intact', async () => {
    for (const t of stores.values()) {
      const runs = await sql<{ n: number }>`select count(*) as n from runs`.execute(t.store.db);
      expect(Number(runs.rows[0].n)).toBe(40);
      const exps = await sql<{ n: number }>`select count(*) as n from experiments`.execute(t.store.db);
      expect(Number(exps.rows[0].n)).toBe(2);
    }
  });
});
