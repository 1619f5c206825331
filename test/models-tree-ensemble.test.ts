import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RandomForestClassifier, RandomForestRegression } from 'ml-random-forest';
import { afterAll, describe, expect, it } from 'vitest';
import { buildTreeEnsembleOnnx, loadModelFromDirectory, saveModel, type LoadedModel, type ModelSignature } from '../src/models/index.js';

// ml-cart ships no type declarations: a non-literal specifier keeps tsc from resolving it.
interface CartModel { train(x: number[][], y: number[]): void; predict(x: number[][]): number[]; toJSON(): unknown }
const cart = (await import('ml-cart' as string)) as {
  DecisionTreeRegression: new (o?: object) => CartModel;
  DecisionTreeClassifier: new (o?: object) => CartModel;
};

const root = await mkdtemp(path.join(tmpdir(), 'flywheel-trees-'));
const loaded: LoadedModel[] = [];
afterAll(async () => {
  await Promise.all(loaded.map((m) => m.close()));
  await rm(root, { recursive: true, force: true });
});
let n = 0;

// Deterministic data; values are float32-exact so the float32 ONNX input equals the JS doubles.
let state = 12345;
const rand = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
const F = 3;
const X = Array.from({ length: 120 }, () => Array.from({ length: F }, () => Math.fround(Math.round(rand() * 400) / 40 - 5)));
const yReg = X.map(([a, b, c]) => Math.sin(a) * 3 + b * b * 0.2 - c + (rand() - 0.5) * 0.3);
const yCls = X.map(([a, b, c]) => (a + b > 1 ? 2 : c > 0 ? 1 : 0));
// Score on the training rows (split midpoints lie between them) plus fresh rows.
const test = [...X, ...Array.from({ length: 80 }, () => Array.from({ length: F }, () => Math.fround(rand() * 12 - 6)))];
const names = Array.from({ length: F }, (_, i) => `f${i}`);
const signature: ModelSignature = { inputs: names.map((name) => ({ type: 'double' as const, name, required: true })) };
const records = test.map((r) => Object.fromEntries(r.map((v, i) => [names[i], v])));

async function serve(bytes: Uint8Array): Promise<LoadedModel> {
  const dir = path.join(root, `m${n++}`);
  await saveModel(dir, { flavor: 'onnx', onnx: bytes }, { signature });
  const m = await loadModelFromDirectory(dir);
  loaded.push(m);
  return m;
}

describe('tree ensemble ONNX builder', () => {
  it('random forest regression: ONNX predictions equal the JS model', async () => {
    const rf = new RandomForestRegression({ nEstimators: 15, seed: 7, maxFeatures: 2, noOOB: true });
    rf.train(X, yReg);
    const model = await serve(buildTreeEnsembleOnnx(rf, { features: F }));
    const out = (await model.predict(records)) as { variable: number }[];
    const js = rf.predict(test);
    expect(out).toHaveLength(test.length);
    js.forEach((v, i) => expect(Math.abs(out[i].variable - v)).toBeLessThan(1e-5));
  });

  it('random forest classifier: labels identical (mode over trees, ties too), probabilities are vote shares', async () => {
    const rf = new RandomForestClassifier({ nEstimators: 10, seed: 3, maxFeatures: 2, noOOB: true });
    rf.train(X, yCls);
    const model = await serve(buildTreeEnsembleOnnx(rf.toJSON(), { features: F }));
    const out = (await model.predict(records)) as { label: number; probabilities: number[] }[];
    expect(out.map((o) => o.label)).toEqual(rf.predict(test));
    // Vote shares from the trees' own labels. (ml-random-forest 2.1.0's predictProbability is off: its
    // reduce() has no initial value, so it starts from the first tree's label and drops that tree's vote.)
    const votes = rf.predictionValues(test).to2DArray();
    votes.forEach((row, i) => {
      for (const k of [0, 1, 2]) expect(Math.abs(out[i].probabilities[k] - row.filter((v) => v === k).length / row.length)).toBeLessThan(1e-6);
    });
    // With 10 trees and 3 classes some rows tie on votes; ml-array-mode then picks the class that got there first.
    const ties = votes.filter((row) => {
      const c = [0, 1, 2].map((k) => row.filter((v) => v === k).length);
      return c.filter((x) => x === Math.max(...c)).length > 1;
    });
    expect(ties.length).toBeGreaterThan(0);
    // …and at least one of them is won by a class other than the lowest tied one (a plain argmax would differ).
    const lowestTop = (row: number[]) => {
      const c = [0, 1, 2].map((k) => row.filter((v) => v === k).length);
      return c.indexOf(Math.max(...c));
    };
    expect(votes.some((row, i) => lowestTop(row) !== out[i].label)).toBe(true);
  });

  it('single ml-cart trees (regression and classification) use the same path', async () => {
    const reg = new cart.DecisionTreeRegression({ maxDepth: 6 });
    reg.train(X, yReg);
    const regOut = (await (await serve(buildTreeEnsembleOnnx(reg, { features: F }))).predict(records)) as { variable: number }[];
    reg.predict(test).forEach((v, i) => expect(Math.abs(regOut[i].variable - v)).toBeLessThan(1e-5));

    const cls = new cart.DecisionTreeClassifier();
    cls.train(X, yCls);
    const clsOut = (await (await serve(buildTreeEnsembleOnnx(cls, { features: F }))).predict(records)) as { label: number }[];
    expect(clsOut.map((o) => o.label)).toEqual(cls.predict(test));
  });

  it('refuses what it cannot reproduce', () => {
    const rf = new RandomForestRegression({ nEstimators: 2, selectionMethod: 'median', noOOB: true });
    rf.train(X, yReg);
    expect(() => buildTreeEnsembleOnnx(rf, { features: F })).toThrow(/median/);
    const mean = new RandomForestRegression({ nEstimators: 2, noOOB: true });
    mean.train(X, yReg);
    expect(() => buildTreeEnsembleOnnx(mean, { features: 1 })).toThrow(/outside the 1 input column/);
    expect(() => buildTreeEnsembleOnnx({ toJSON: () => ({ name: 'SVM' }) }, { features: F })).toThrow(/Unsupported tree model/);
  });
});
