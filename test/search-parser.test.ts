import { describe, expect, it } from 'vitest';
import { FlywheelError } from '../src/core/errors.js';
import {
  decodePageToken,
  encodePageToken,
  parseExperimentFilter,
  parseExperimentOrderBy,
  parseLoggedModelFilter,
  parseLoggedModelOrderBy,
  parseRunFilter,
  parseRunOrderBy,
  validateMaxResults,
} from '../src/tracking/search/index.js';
import { postgresLikePattern, sqliteGlobPattern } from '../src/tracking/search/like.js';

/** Runs fn, expects an INVALID_PARAMETER_VALUE FlywheelError, returns its message. */
function invalid(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FlywheelError);
    expect((e as FlywheelError).code).toBe('INVALID_PARAMETER_VALUE');
    expect((e as FlywheelError).status).toBe(400);
    return (e as FlywheelError).message;
  }
  throw new Error('expected an INVALID_PARAMETER_VALUE error, got none');
}

describe('parseRunFilter: clauses', () => {
  it('has no clauses for an empty or blank filter', () => {
    expect(parseRunFilter('')).toEqual([]);
    expect(parseRunFilter('   \n\t ')).toEqual([]);
  });

  it('parses the entity prefixes and their aliases', () => {
    const f = (s: string) => parseRunFilter(s)[0];
    for (const p of ['metrics', 'metric']) expect(f(`${p}.acc > 1`)).toMatchObject({ entity: 'metric', key: 'acc' });
    for (const p of ['params', 'param', 'parameters', 'parameter']) {
      expect(f(`${p}.lr = '1'`)).toMatchObject({ entity: 'param', key: 'lr' });
    }
    for (const p of ['tags', 'tag']) expect(f(`${p}.t = '1'`)).toMatchObject({ entity: 'tag', key: 't' });
    for (const p of ['attributes', 'attribute', 'attr', 'run']) {
      expect(f(`${p}.status = 'FINISHED'`)).toMatchObject({ entity: 'attribute', key: 'status' });
    }
    for (const p of ['datasets', 'dataset']) expect(f(`${p}.name = 'd'`)).toMatchObject({ entity: 'dataset', key: 'name' });
    expect(f(`status = 'FINISHED'`)).toMatchObject({ entity: 'attribute', key: 'status' });
    expect(f('`metrics`.acc > 1')).toMatchObject({ entity: 'metric', key: 'acc' });
  });

  it('parses a typical AND-ed filter', () => {
    expect(parseRunFilter("metrics.acc > 0.5 and params.model = 'a'")).toEqual([
      { entity: 'metric', key: 'acc', kind: 'number', op: '>', value: 0.5 },
      { entity: 'param', key: 'model', kind: 'string', op: '=', value: 'a' },
    ]);
  });

  it('treats AND and the keyword comparators case-insensitively', () => {
    const clauses = parseRunFilter("params.a like 'x%' AnD tags.b ILike 'Y' and run_id not in ('r') AND tags.c is not null");
    expect(clauses.map((c) => c.op)).toEqual(['LIKE', 'ILIKE', 'NOT IN', 'IS NOT NULL']);
  });

  it('reads backticked and double-quoted keys, with dots and spaces', () => {
    expect(parseRunFilter("tags.`mlflow.user` = 'bob'")[0]).toMatchObject({ entity: 'tag', key: 'mlflow.user', value: 'bob' });
    expect(parseRunFilter(`tags."a b" = 'x'`)[0]).toMatchObject({ key: 'a b' });
    expect(parseRunFilter('metrics.`val loss` < 1')[0]).toMatchObject({ key: 'val loss' });
    expect(parseRunFilter('metrics.a.b.c < 1')[0]).toMatchObject({ key: 'a.b.c' });
    expect(parseRunFilter('metrics.val-loss/x:y < 1')[0]).toMatchObject({ key: 'val-loss/x:y' });
    expect(parseRunFilter('metrics.ünïcødé < 1')[0]).toMatchObject({ key: 'ünïcødé' });
  });

  it('reads string values in single or double quotes, with doubled or escaped quotes', () => {
    expect(parseRunFilter(`params.a = "x y"`)[0]).toMatchObject({ value: 'x y' });
    expect(parseRunFilter(`params.a = 'it''s'`)[0]).toMatchObject({ value: "it's" });
    expect(parseRunFilter(`params.a = "say ""hi"""`)[0]).toMatchObject({ value: 'say "hi"' });
    expect(parseRunFilter(`params.a = 'it\\'s'`)[0]).toMatchObject({ value: "it's" });
    expect(parseRunFilter(`params.a LIKE '50\\%'`)[0]).toMatchObject({ value: '50\\%' });
    expect(parseRunFilter(`params.a = ''`)[0]).toMatchObject({ value: '' });
    expect(parseRunFilter(`params.a = 'and or ( ) = '`)[0]).toMatchObject({ value: 'and or ( ) = ' });
  });

  it('reads numbers: ints, floats, exponents, negatives', () => {
    const v = (s: string) => (parseRunFilter(`metrics.m > ${s}`)[0] as { value: number }).value;
    expect(v('1')).toBe(1);
    expect(v('0.25')).toBe(0.25);
    expect(v('.5')).toBe(0.5);
    expect(v('5.')).toBe(5);
    expect(v('1e-3')).toBe(0.001);
    expect(v('2E+2')).toBe(200);
    expect(v('-1.5e3')).toBe(-1500);
    expect(v('-7')).toBe(-7);
    expect(parseRunFilter('metrics.m>1 and metrics.n<=-2')).toHaveLength(2);
  });

  it('parses every comparator', () => {
    for (const op of ['=', '!=', '<', '<=', '>', '>=']) {
      expect(parseRunFilter(`metrics.m ${op} 1`)[0]).toMatchObject({ op });
      expect(parseRunFilter(`start_time ${op} 1`)[0]).toMatchObject({ op });
    }
    for (const op of ['=', '!=', 'LIKE', 'ILIKE']) expect(parseRunFilter(`params.p ${op} 'v'`)[0]).toMatchObject({ op });
    expect(parseRunFilter('params.p IS NULL')[0]).toEqual({ entity: 'param', key: 'p', kind: 'null', op: 'IS NULL' });
    expect(parseRunFilter('tags.t IS  NOT   NULL')[0]).toEqual({ entity: 'tag', key: 't', kind: 'null', op: 'IS NOT NULL' });
  });

  it('resolves attribute aliases', () => {
    expect(parseRunFilter("`Run name` = 'x'")[0]).toMatchObject({ entity: 'attribute', key: 'run_name' });
    expect(parseRunFilter("attributes.`run name` = 'x'")[0]).toMatchObject({ key: 'run_name' });
    expect(parseRunFilter("`Run Name` LIKE 'x%'")[0]).toMatchObject({ key: 'run_name' });
    expect(parseRunFilter('created > 5')[0]).toMatchObject({ key: 'start_time', value: 5 });
    expect(parseRunFilter('attribute.Created > 5')[0]).toMatchObject({ key: 'start_time' });
    for (const k of ['run_id', 'run_name', 'status', 'user_id', 'artifact_uri']) {
      expect(parseRunFilter(`${k} = 'x'`)[0]).toMatchObject({ key: k, kind: 'string' });
    }
    expect(parseRunFilter('end_time <= 10')[0]).toMatchObject({ key: 'end_time', kind: 'number' });
  });

  it('parses IN lists for run_id and dataset name/digest', () => {
    expect(parseRunFilter("run_id IN ('a', \"b\",'c',)")[0]).toEqual({
      entity: 'attribute',
      key: 'run_id',
      kind: 'list',
      op: 'IN',
      value: ['a', 'b', 'c'],
    });
    expect(parseRunFilter("attributes.run_id NOT IN ('a')")[0]).toMatchObject({ op: 'NOT IN', value: ['a'] });
    expect(parseRunFilter("dataset.name IN ('d1', 'd2')")[0]).toMatchObject({ entity: 'dataset', key: 'name', op: 'IN' });
    expect(parseRunFilter("datasets.digest NOT IN ('x')")[0]).toMatchObject({ key: 'digest', op: 'NOT IN' });
    expect(parseRunFilter("dataset.context = 'train'")[0]).toMatchObject({ key: 'context', op: '=' });
  });
});

describe('parseRunFilter: errors', () => {
  it('gives MLflow’s messages for the observed edge cases', () => {
    expect(invalid(() => parseRunFilter("metrics.acc > 'x'"))).toBe("Expected numeric value type for metric. Found 'x'");
    expect(invalid(() => parseRunFilter("params.lr > '1'"))).toBe(
      "Invalid comparator '>' not one of '{'=', '!=', 'LIKE', 'ILIKE', 'IS NULL', 'IS NOT NULL'}'",
    );
    expect(invalid(() => parseRunFilter('foo.bar = 1'))).toBe(
      "Invalid entity type 'foo'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']",
    );
  });

  it('refuses OR and parentheses, naming the token and its position', () => {
    const m = invalid(() => parseRunFilter('metrics.a > 1 OR metrics.b > 2'));
    expect(m).toContain("Invalid clause(s) in filter string: 'OR'");
    expect(m).toContain('position 14');
    expect(invalid(() => parseRunFilter('(metrics.a > 1)'))).toContain("Invalid clause(s) in filter string: '('");
    expect(invalid(() => parseRunFilter("metrics.a > 1 and (params.b = 'x')"))).toContain("'('");
    expect(invalid(() => parseRunFilter("params.b = 'x')"))).toContain("Invalid clause(s) in filter string: ')'");
    expect(invalid(() => parseRunFilter("params.b = 'x' 'y'"))).toContain("Invalid clause(s) in filter string: ''y''");
    expect(invalid(() => parseRunFilter('NOT metrics.a > 1'))).toContain('Invalid comparison clause');
  });

  it('checks metric values and comparators', () => {
    expect(invalid(() => parseRunFilter('metrics.acc > abc'))).toBe('Expected numeric value type for metric. Found abc');
    expect(invalid(() => parseRunFilter('metrics.acc > NaN'))).toBe('Expected numeric value type for metric. Found NaN');
    expect(invalid(() => parseRunFilter('metrics.acc > 1abc'))).toBe('Expected numeric value type for metric. Found 1abc');
    expect(invalid(() => parseRunFilter("metrics.acc LIKE 'x'"))).toBe("Expected numeric value type for metric. Found 'x'");
    expect(invalid(() => parseRunFilter('metrics.acc LIKE 1'))).toBe(
      "Invalid comparator 'LIKE' not one of '{'=', '!=', '<', '<=', '>', '>='}'",
    );
    expect(invalid(() => parseRunFilter('metrics.acc IS NULL'))).toContain("Invalid comparator 'IS NULL'");
    expect(invalid(() => parseRunFilter('metrics.acc == 1'))).toContain("Invalid comparator '=='");
    expect(invalid(() => parseRunFilter("metrics.acc IN ('1')"))).toContain('Expected numeric value type for metric');
  });

  it('checks param and tag values and comparators', () => {
    expect(invalid(() => parseRunFilter('params.p = 1'))).toBe(
      "Expected a quoted string value for parameter (e.g. 'my-value'). Got value 1",
    );
    expect(invalid(() => parseRunFilter('tags.t = abc'))).toBe(
      "Expected a quoted string value for tag (e.g. 'my-value'). Got value abc",
    );
    expect(invalid(() => parseRunFilter("tags.t < 'a'"))).toContain("Invalid comparator '<' not one of");
    expect(invalid(() => parseRunFilter("params.p IN ('a')"))).toContain('Expected a quoted string value for parameter');
    expect(invalid(() => parseRunFilter("params.p NOT LIKE 'a'"))).toContain("Invalid comparator 'NOT LIKE'");
  });

  it('checks attribute keys, values and comparators', () => {
    expect(invalid(() => parseRunFilter("attributes.experiment_id = '1'"))).toContain(
      "Invalid attribute key 'experiment_id' specified. Valid keys are '[",
    );
    expect(invalid(() => parseRunFilter("lifecycle_stage = 'active'"))).toContain('Invalid attribute key');
    expect(invalid(() => parseRunFilter("start_time > '5'"))).toBe(
      "Expected numeric value type for numeric attribute: start_time. Found '5'",
    );
    expect(invalid(() => parseRunFilter("start_time LIKE 5"))).toContain("Invalid comparator 'LIKE'");
    expect(invalid(() => parseRunFilter('status = FINISHED'))).toBe(
      'Expected a quoted string value for attributes. Got value FINISHED',
    );
    expect(invalid(() => parseRunFilter("status > 'a'"))).toContain("Invalid comparator '>'");
    expect(invalid(() => parseRunFilter("status IN ('a')"))).toBe(
      "Only the 'run_id' attribute supports comparison with a list of quoted string values.",
    );
    expect(invalid(() => parseRunFilter("run_id = ('a')"))).toContain("Invalid comparator '=' for a list");
    expect(invalid(() => parseRunFilter("run_id IN 'a'"))).toContain("Comparator 'IN' expects a list");
    expect(invalid(() => parseRunFilter('end_time IS NULL'))).toContain("Invalid comparator 'IS NULL'");
  });

  it('checks dataset keys and lists', () => {
    expect(invalid(() => parseRunFilter("dataset.source = 'x'"))).toContain("Invalid dataset key 'source'");
    expect(invalid(() => parseRunFilter("dataset.context IN ('train')"))).toContain("Only the dataset 'name' and 'digest'");
    expect(invalid(() => parseRunFilter('dataset.name = 1'))).toContain('Expected a quoted string value for dataset');
    expect(invalid(() => parseRunFilter("dataset.name > 'a'"))).toContain("Invalid comparator '>'");
  });

  it('reports malformed lists', () => {
    expect(invalid(() => parseRunFilter('run_id IN ()'))).toContain('got empty list');
    expect(invalid(() => parseRunFilter("run_id IN ('a' 'b')"))).toContain("expected ',' or ')'");
    expect(invalid(() => parseRunFilter("run_id IN ('a', 1)"))).toContain('expected a quoted string value');
    expect(invalid(() => parseRunFilter("run_id IN ('a',"))).toContain('not closed');
    expect(invalid(() => parseRunFilter('run_id IN (,)'))).toContain('expected a quoted string value');
  });

  it('reports syntax errors with positions', () => {
    expect(invalid(() => parseRunFilter('metrics.acc'))).toMatch(/expected a comparator after 'metrics.acc' at position 11/);
    expect(invalid(() => parseRunFilter('metrics.acc >'))).toMatch(/expected a value after '>' at position 13/);
    expect(invalid(() => parseRunFilter('metrics.acc > 1 and'))).toMatch(/expected a clause after 'AND' at position 16/);
    expect(invalid(() => parseRunFilter("params.a = 'open"))).toMatch(/unterminated quoted string starting at position 11/);
    expect(invalid(() => parseRunFilter('tags.`open = 1'))).toMatch(/unterminated backtick-quoted name starting at position 5/);
    expect(invalid(() => parseRunFilter('metrics. > 1'))).toMatch(/expected a key after '.'/);
    expect(invalid(() => parseRunFilter('metrics.`` > 1'))).toMatch(/empty quoted name/);
    expect(invalid(() => parseRunFilter('metrics.my metric > 1'))).toMatch(/expected a comparator after 'metrics.my' .* found 'metric'/);
    expect(invalid(() => parseRunFilter('= 1'))).toMatch(/expected an identifier at position 0/);
    expect(invalid(() => parseRunFilter("'; DROP TABLE runs; --"))).toMatch(/expected an identifier at position 0/);
    expect(invalid(() => parseRunFilter('params.a = \u0000'))).toMatch(/NUL character at position 11/);
    expect(invalid(() => parseRunFilter('params.a IS 1'))).toMatch(/expected a comparator/);
  });

  it('caps the number of clauses and the length of LIKE patterns', () => {
    const many = Array.from({ length: 101 }, (_, i) => `metrics.m${i} > 1`).join(' and ');
    expect(invalid(() => parseRunFilter(many))).toContain('more than 100 clauses');
    expect(parseRunFilter(Array.from({ length: 100 }, (_, i) => `metrics.m${i} > 1`).join(' and '))).toHaveLength(100);
    expect(invalid(() => parseRunFilter(`params.a LIKE '${'x'.repeat(10_001)}'`))).toContain('LIKE pattern is longer');
    expect(parseRunFilter(`params.a = '${'x'.repeat(20_000)}'`)).toHaveLength(1);
  });
});

describe('parseRunOrderBy', () => {
  it('parses keys and directions', () => {
    expect(parseRunOrderBy(['metrics.acc DESC', 'params.lr', 'tags.`mlflow.user` asc', 'start_time desc'])).toEqual([
      { entity: 'metric', key: 'acc', ascending: false },
      { entity: 'param', key: 'lr', ascending: true },
      { entity: 'tag', key: 'mlflow.user', ascending: true },
      { entity: 'attribute', key: 'start_time', ascending: false },
    ]);
    expect(parseRunOrderBy(['attributes.created ASC'])).toEqual([{ entity: 'attribute', key: 'start_time', ascending: true }]);
    expect(parseRunOrderBy(['metrics."val loss" desc'])).toEqual([{ entity: 'metric', key: 'val loss', ascending: false }]);
    expect(parseRunOrderBy([])).toEqual([]);
    expect(parseRunOrderBy('metrics.acc DESC')).toEqual([{ entity: 'metric', key: 'acc', ascending: false }]);
    expect(parseRunOrderBy(['`metrics.acc` DESC', '"params.a b"'])).toEqual([
      { entity: 'metric', key: 'acc', ascending: false },
      { entity: 'param', key: 'a b', ascending: true },
    ]);
    expect(parseRunOrderBy(['`Run name` desc'])).toEqual([{ entity: 'attribute', key: 'run_name', ascending: false }]);
    expect(parseRunOrderBy(undefined)).toEqual([]);
    for (const k of ['start_time', 'end_time', 'run_id', 'run_name', 'status', 'user_id', 'artifact_uri']) {
      expect(parseRunOrderBy([k])[0]).toMatchObject({ entity: 'attribute', key: k });
    }
  });

  it('refuses bad clauses with MLflow’s messages', () => {
    expect(invalid(() => parseRunOrderBy(['metrics.acc sideways']))).toBe(
      "Invalid ordering key in order_by clause 'metrics.acc sideways'.",
    );
    expect(invalid(() => parseRunOrderBy(['metrics.acc desc extra']))).toBe(
      "Invalid order_by clause 'metrics.acc desc extra'. Could not be parsed.",
    );
    expect(invalid(() => parseRunOrderBy(['']))).toContain('Could not be parsed');
    expect(invalid(() => parseRunOrderBy(['= 1']))).toContain('Could not be parsed');
    expect(invalid(() => parseRunOrderBy(['foo.bar']))).toContain("Invalid entity type 'foo'");
    expect(invalid(() => parseRunOrderBy(['attributes.nope']))).toContain("Invalid attribute key 'nope'");
    expect(invalid(() => parseRunOrderBy(['dataset.name']))).toContain('dataset');
  });

  it('refuses duplicate keys, after aliases', () => {
    expect(invalid(() => parseRunOrderBy(['metrics.acc', 'metrics.acc DESC']))).toContain('duplicate');
    expect(invalid(() => parseRunOrderBy(['created', 'start_time desc']))).toContain('duplicate');
    expect(invalid(() => parseRunOrderBy(['metric.a', 'metrics.a']))).toContain('duplicate');
    expect(parseRunOrderBy(['metrics.a', 'params.a', 'tags.a'])).toHaveLength(3);
  });
});

describe('experiment and logged-model grammars', () => {
  it('parses experiment filters', () => {
    expect(parseExperimentFilter("name = 'x' and attribute.name LIKE 'a%' and tags.t IS NULL and creation_time > 5")).toEqual([
      { entity: 'attribute', key: 'name', kind: 'string', op: '=', value: 'x' },
      { entity: 'attribute', key: 'name', kind: 'string', op: 'LIKE', value: 'a%' },
      { entity: 'tag', key: 't', kind: 'null', op: 'IS NULL' },
      { entity: 'attribute', key: 'creation_time', kind: 'number', op: '>', value: 5 },
    ]);
    expect(invalid(() => parseExperimentFilter("attributes.name = 'x'"))).toContain("Invalid entity type 'attributes'");
    expect(invalid(() => parseExperimentFilter("metrics.a > 1"))).toContain("Invalid entity type 'metrics'");
    expect(invalid(() => parseExperimentFilter("experiment_id = '1'"))).toContain('Invalid attribute key');
    expect(invalid(() => parseExperimentFilter("name > 'x'"))).toContain("Invalid comparator '>'");
    expect(invalid(() => parseExperimentFilter("last_update_time > 'x'"))).toContain('Expected numeric value type');
    expect(invalid(() => parseExperimentFilter("name = 'x' or name = 'y'"))).toContain("'or'");
  });

  it('parses experiment order_by', () => {
    expect(parseExperimentOrderBy(['name', 'experiment_id DESC', 'attribute.last_update_time asc'])).toEqual([
      { key: 'name', ascending: true },
      { key: 'experiment_id', ascending: false },
      { key: 'last_update_time', ascending: true },
    ]);
    expect(invalid(() => parseExperimentOrderBy(['tags.t']))).toContain('Invalid order_by entity');
    expect(invalid(() => parseExperimentOrderBy(['lifecycle_stage']))).toContain('Invalid attribute key');
    expect(invalid(() => parseExperimentOrderBy(['name', 'name desc']))).toContain('duplicate');
  });

  it('parses logged-model filters and order_by', () => {
    expect(parseLoggedModelFilter("name = 'model'")).toEqual([
      { entity: 'attribute', key: 'name', kind: 'string', op: '=', value: 'model' },
    ]);
    expect(parseLoggedModelFilter('creation_time > 5 and attributes.last_updated_timestamp <= 9')).toMatchObject([
      { key: 'creation_timestamp_ms', op: '>' },
      { key: 'last_updated_timestamp_ms', op: '<=' },
    ]);
    expect(parseLoggedModelFilter("params.p LIKE 'a%' and tags.`t t` != 'x'")).toMatchObject([
      { entity: 'param', key: 'p' },
      { entity: 'tag', key: 't t' },
    ]);
    expect(invalid(() => parseLoggedModelFilter('metrics.acc > 1'))).toContain('not supported');
    expect(invalid(() => parseLoggedModelFilter("foo.x = 'a'"))).toContain("Invalid entity type 'foo'");
    expect(invalid(() => parseLoggedModelFilter("artifact_location = 'a'"))).toContain('Invalid attribute key');
    expect(parseLoggedModelOrderBy([{ field_name: 'name' }, { field_name: 'creation_timestamp', ascending: false }])).toEqual([
      { key: 'name', ascending: true },
      { key: 'creation_timestamp_ms', ascending: false },
    ]);
    expect(invalid(() => parseLoggedModelOrderBy([{ field_name: 'metrics.acc' }]))).toContain('not supported');
    expect(invalid(() => parseLoggedModelOrderBy([{ field_name: 'nope' }]))).toContain('Invalid order_by field_name');
    expect(invalid(() => parseLoggedModelOrderBy([{} as never]))).toContain('field_name');
  });
});

describe('page tokens, max_results, LIKE translation', () => {
  it('round-trips offsets and reads MLflow’s own tokens', () => {
    for (const n of [0, 1, 100, 123456789]) expect(decodePageToken(encodePageToken(n))).toBe(n);
    expect(encodePageToken(1)).toBe(Buffer.from('{"offset":1}').toString('base64'));
    expect(decodePageToken('eyJvZmZzZXQiOiAxfQ==')).toBe(1);
    expect(decodePageToken(undefined)).toBe(0);
    expect(decodePageToken('')).toBe(0);
  });

  it('refuses malformed tokens', () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    for (const t of ['%%%', 'not base64!', b64('nope'), b64('{"offset":-1}'), b64('{"offset":1.5}'), b64('[]'), b64('null'), b64('{"offset":"x"}'), 'x'.repeat(2000)]) {
      expect(invalid(() => decodePageToken(t))).toContain('Invalid page token');
    }
    expect(invalid(() => decodePageToken(5 as unknown as string))).toContain('Invalid page token');
  });

  it('validates max_results with MLflow’s message', () => {
    expect(validateMaxResults(undefined, 1000)).toBe(1000);
    expect(validateMaxResults(1, 1000)).toBe(1);
    expect(validateMaxResults(50_000, 1000)).toBe(50_000);
    expect(validateMaxResults('20', 1000)).toBe(20);
    expect(invalid(() => validateMaxResults(50_001, 1000))).toBe(
      "Invalid value 50001 for parameter 'max_results' supplied:  Hint: Value was of type 'int'. See the API docs for more information about request parameters.",
    );
    for (const bad of [0, -1, 1.5, 'abc', {}, Number.NaN]) expect(invalid(() => validateMaxResults(bad, 1000))).toContain('max_results');
  });

  it('translates LIKE patterns for each store', () => {
    expect(postgresLikePattern('a%b_c')).toBe('a%b_c');
    expect(postgresLikePattern('50\\%')).toBe('50\\%');
    expect(postgresLikePattern('end\\')).toBe('end\\\\');
    expect(sqliteGlobPattern('a%b_c')).toBe('a*b?c');
    expect(sqliteGlobPattern('*?[]')).toBe('[*][?][[]]');
    expect(sqliteGlobPattern('50\\%')).toBe('50%');
    expect(sqliteGlobPattern('AbC%', true)).toBe('abc*');
  });
});
