import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  loadPipelineConfig,
  pipeline,
  PipelineDefinitionError,
  step,
  topologicalOrder,
  upstreamOf,
  type StepOutput,
} from '../src/pipelines/index.js';

const load = step('load', () => [3, 1, 2], { params: { rows: 10 } });
const scale = step('scale', (i: { data: number[] }, ctx) => i.data.map((x) => x * ctx.params.factor), { params: { factor: 2 } });
const split = step('split', (i: { data: number[] }) => ({ train: i.data.slice(1), test: i.data.slice(0, 1) }), {
  outputs: ['train', 'test'],
});
const fit = step('fit', (i: { train: number[]; test: number[] }) => i.train.length / (i.test.length || 1));
const notify = step('notify', () => 'sent');

describe('pipeline DSL', () => {
  it('builds the DAG from data flow, with named outputs and parameters', () => {
    const p = pipeline(
      'dsl',
      (params) => {
        const data = scale({ data: load() }, { params: { factor: params.factor } });
        const { train, test } = split({ data });
        return { model: fit({ train, test }) };
      },
      { params: { factor: 3 } },
    );
    const g = p.build();
    expect(g.params).toEqual({ factor: 3 });
    expect(g.nodes.map((n) => n.name)).toEqual(['load', 'scale', 'split', 'fit']);
    const byName = Object.fromEntries(g.nodes.map((n) => [n.name, n]));
    expect(byName.scale.inputs).toEqual({ data: { step: 'load', output: 'output' } });
    expect(byName.scale.params).toEqual({ factor: 3 });
    expect(byName.load.params).toEqual({ rows: 10 });
    expect(byName.fit.inputs).toEqual({ train: { step: 'split', output: 'train' }, test: { step: 'split', output: 'test' } });
    expect((g.returned as { model: StepOutput<number> }).model.step).toBe('fit');
    expect(p.build({ factor: 5 }).nodes[1].params).toEqual({ factor: 5 });
    expect(() => p.build({ factr: 5 })).toThrow(/no parameter 'factr'/);
  });

  it('orders with `after` (handles or step names) without data edges', () => {
    const p = pipeline('after', () => {
      const data = load();
      const sent = notify({}, { after: [data] });
      notify({}, { name: 'again', after: [sent, 'load'] });
    });
    const g = p.build();
    expect(g.nodes.map((n) => [n.name, upstreamOf(n)])).toEqual([
      ['load', []],
      ['notify', ['load']],
      ['again', ['notify', 'load']],
    ]);
  });

  it('inlines pipelines called from pipelines, with prefixed names, and suffixes repeated steps', () => {
    const prep = pipeline('prep', (params) => scale({ data: load() }, { params: { factor: params.k } }), { params: { k: 1 } });
    const outer = pipeline('outer', () => {
      const a = prep({ k: 10 });
      const b = prep();
      const { train, test } = split({ data: a });
      fit({ train, test });
      fit({ train: b, test });
    });
    const g = outer.build();
    expect(g.nodes.map((n) => n.name)).toEqual(['prep.load', 'prep.scale', 'prep_2.load', 'prep_2.scale', 'split', 'fit', 'fit_2']);
    const byName = Object.fromEntries(g.nodes.map((n) => [n.name, n]));
    expect(byName['prep.scale'].params).toEqual({ factor: 10 });
    expect(byName['prep_2.scale'].params).toEqual({ factor: 1 });
    expect(byName['prep.scale'].inputs.data.step).toBe('prep.load');
    expect(byName.fit_2.inputs.train.step).toBe('prep_2.scale');
    expect(topologicalOrder(g).map((n) => n.name).indexOf('fit_2')).toBeGreaterThan(3);
  });

  it('rejects a cycle naming it', () => {
    const p = pipeline('cyclic', () => {
      const a = notify({}, { name: 'a', after: ['c'] });
      const b = notify({}, { name: 'b', after: [a] });
      notify({}, { name: 'c', after: [b] });
    });
    expect(() => p.build()).toThrow(PipelineDefinitionError);
    expect(() => p.build()).toThrow("pipeline 'cyclic' has a cycle: a -> c -> b -> a");
  });

  it('rejects ill-formed pipelines with clear errors', () => {
    expect(() => load()).toThrow(/called outside a pipeline function/);
    const untyped = fit as unknown as (inputs: unknown) => unknown;
    expect(() => pipeline('p1', () => void untyped({ train: [1], test: [2] })).build()).toThrow(
      /input 'train' is not a step output \(got an array\); pass constants as params/,
    );
    let leaked: StepOutput<number[]> | undefined;
    pipeline('p2', () => void (leaked = load())).build();
    expect(() => pipeline('p3', () => void fit({ train: leaked!, test: leaked! })).build()).toThrow(/from another pipeline build/);
    expect(() => pipeline('p4', () => void notify({}, { after: ['nope'] })).build()).toThrow(/unknown step 'nope'/);
    expect(() =>
      pipeline('p5', () => {
        notify({}, { name: 'x' });
        notify({}, { name: 'x' });
      }).build(),
    ).toThrow(/duplicate step name 'x'/);
    expect(() => pipeline('p6', () => void notify({}, { params: { bad: new Date() as never } })).build()).toThrow(/not a JSON value/);
    expect(() => step('has.dot', () => 1)).toThrow(/invalid step name/);
    expect(() => step('s', () => ({}), { outputs: [] as string[] })).toThrow(/outputs must not be empty/);
    expect(() => pipeline('p7', (async () => undefined) as () => never).build()).toThrow(/must be synchronous/);
  });

  it('loads config overrides from YAML and JSON, rejecting unknown keys', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flywheel-pcfg-'));
    const y = join(dir, 'c.yaml');
    writeFileSync(y, 'parameters:\n  factor: 4\nsteps:\n  fit:\n    retries: 2\n    timeoutMs: 1000\n    params: { depth: 3 }\n    cache: false\n');
    expect(loadPipelineConfig(y)).toEqual({
      parameters: { factor: 4 },
      steps: { fit: { retries: 2, timeoutMs: 1000, params: { depth: 3 }, cache: false } },
    });
    const j = join(dir, 'c.json');
    writeFileSync(j, JSON.stringify({ parameters: { a: [1, 'x'] } }));
    expect(loadPipelineConfig(j)).toEqual({ parameters: { a: [1, 'x'] } });
    writeFileSync(j, JSON.stringify({ steps: { fit: { retry: 1 } } }));
    expect(() => loadPipelineConfig(j)).toThrow(/steps\.fit/);
    writeFileSync(j, '{');
    expect(() => loadPipelineConfig(j)).toThrow(/is not valid JSON/);
    writeFileSync(y, 'steps:\n  fit:\n    retries: -1\n');
    expect(() => loadPipelineConfig(y)).toThrow(PipelineDefinitionError);
  });
});
