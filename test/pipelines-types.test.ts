// Compile-time checks of the pipeline DSL: `npx tsc -p tsconfig.json --noEmit` fails if any
// `@ts-expect-error` below stops being an error (or if a valid wiring stops compiling).
import { describe, expect, it } from 'vitest';
import { pipeline, step, type StepOutput } from '../src/pipelines/index.js';

const load = step('load', () => 'a,b,c');
const parse = step('parse', (inputs: { text: string }) => inputs.text.split(',').map((s) => s.length));
const train = step('train', (inputs: { data: number[] }, ctx) => inputs.data.length * ctx.params.lr, { params: { lr: 0.1 } });
const split = step('split', (inputs: { data: number[] }) => ({ train: inputs.data, test: [inputs.data.length] }), {
  outputs: ['train', 'test'],
});

describe('pipeline DSL types', () => {
  it('accepts well-typed wiring and rejects ill-typed wiring at compile time', () => {
    const p = pipeline('typed', () => {
      const text = load();
      const data = parse({ text });
      const parts = split({ data });
      const t: StepOutput<number[]> = parts.train;
      const model: StepOutput<number> = train({ data: t }, { params: { lr: 0.5 } });
      // Never called: the wiring below only has to fail to compile.
      const illTyped = () => {
        // @ts-expect-error a StepOutput<string> is not a StepOutput<number[]>
        train({ data: text });
        // @ts-expect-error a missing input
        train({});
        // @ts-expect-error a plain value is not a step output (constants are params)
        train({ data: [1, 2] });
        // @ts-expect-error an unknown parameter
        train({ data }, { params: { momentum: 0.9 } });
        // @ts-expect-error a parameter of the wrong type
        train({ data }, { params: { lr: 'fast' } });
        // @ts-expect-error split has no output 'validation'
        parts.validation;
        // @ts-expect-error a step with declared outputs must return them
        step('bad', () => ({ train: [1] }), { outputs: ['train', 'test'] });
      };
      void illTyped;
      return { model };
    });
    expect(p.build().nodes.map((n) => n.name)).toEqual(['load', 'parse', 'split', 'train']);
  });
});
