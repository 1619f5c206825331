import { mkdtemp, readFile, rm, symlink, writeFile, mkdir, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildLinearRegressionOnnx, buildLogisticRegressionOnnx, loadModelFromDirectory, parseMLmodel, saveModel,
  type LoadedModel, type ModelSignature,
} from '../src/models/index.js';

const { onnx } = onnxProto;
const root = await mkdtemp(path.join(tmpdir(), 'flywheel-models-'));
const loaded: LoadedModel[] = [];
afterAll(async () => {
  await Promise.all(loaded.map((m) => m.close()));
  await rm(root, { recursive: true, force: true });
});
let n = 0;
const freshDir = () => path.join(root, `m${n++}`);
const load = async (dir: string, opts?: { allowJs?: boolean }) => {
  const m = await loadModelFromDirectory(dir, opts);
  loaded.push(m);
  return m;
};
const fixtures = path.resolve('test/fixtures/models');
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

async function rejection(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error('expected a rejection');
}

const colSig = (names: string[]): ModelSignature => ({
  inputs: names.map((name) => ({ type: 'double' as const, name, required: true })),
});

describe('onnx flavor', () => {
  it('saves, loads and predicts a linear regression built in TS', async () => {
    const dir = freshDir();
    const meta = await saveModel(dir, { flavor: 'onnx', onnx: { kind: 'linear', coefficients: [0.5, -2, 3], intercept: 1.25 } }, {
      signature: colSig(['a', 'b', 'c']), inputExample: [{ a: 1, b: 2, c: 3 }], runId: 'r1', artifactPath: 'model',
    });
    expect(meta.flavors.onnx.data).toBe('model.onnx');
    const text = await readFile(path.join(dir, 'MLmodel'), 'utf8');
    expect(parseMLmodel(text).run_id).toBe('r1');
    expect(text).toContain('loader_module: mlflow.onnx');
    expect(JSON.parse(await readFile(path.join(dir, 'input_example.json'), 'utf8'))).toEqual({ columns: ['a', 'b', 'c'], data: [[1, 2, 3]] });

    const model = await load(dir);
    expect(model.flavor).toBe('onnx');
    // Columns arrive out of order: the signature puts them back.
    const out = (await model.predict([{ c: 3, b: 2, a: 1 }, { a: -1, b: 0.5, c: 0 }])) as { variable: number }[];
    expect(out[0].variable).toBeCloseTo(0.5 - 4 + 9 + 1.25, 5);
    expect(out[1].variable).toBeCloseTo(-0.5 - 1 + 1.25, 5);
    const split = (await model.predict({ columns: ['a', 'b', 'c'], data: [[1, 2, 3]] })) as { variable: number }[];
    expect(split[0].variable).toBeCloseTo(6.75, 5);
  });

  it('binary logistic regression gives sigmoid(w·x+b) and a thresholded label', async () => {
    const dir = freshDir();
    const w = [0.7, -1.3];
    const b = 0.2;
    await saveModel(dir, { flavor: 'onnx', onnx: buildLogisticRegressionOnnx({ coefficients: w, intercept: b }) }, { signature: colSig(['x1', 'x2']) });
    const model = await load(dir);
    const rows = [{ x1: 1, x2: 0.5 }, { x1: -2, x2: 1 }, { x1: 0.3, x2: 0.1 }];
    const out = (await model.predict(rows)) as { label: number; probabilities: number[] }[];
    rows.forEach((r, i) => {
      const p = sigmoid(w[0] * r.x1 + w[1] * r.x2 + b);
      expect(Math.abs(out[i].probabilities[1] - p)).toBeLessThan(1e-6);
      expect(Math.abs(out[i].probabilities[0] - (1 - p))).toBeLessThan(1e-6);
      expect(out[i].label).toBe(p >= 0.5 ? 1 : 0);
    });
  });

  it('multinomial logistic regression: softmax sums to 1, label is argmax; tensor input works', async () => {
    const dir = freshDir();
    const coefficients = [[1, 0], [0, 1], [-1, -1]];
    await saveModel(dir, { flavor: 'onnx', onnx: { kind: 'logistic', coefficients, intercept: [0, 0.5, 0.1] } }, {
      signature: { inputs: [{ type: 'tensor', 'tensor-spec': { dtype: 'float32', shape: [-1, 2] } }] },
    });
    const model = await load(dir);
    const out = (await model.predict([[2, 0], [0, 3], [-2, -2]])) as { label: number[]; probabilities: number[][] };
    for (const p of out.probabilities) expect(p.reduce((a, v) => a + v, 0)).toBeCloseTo(1, 6);
    expect(out.label).toEqual([0, 1, 2]);
    const err = await rejection(model.predict([[1, 2, 3]]));
    expect(err.code).toBe('INVALID_PARAMETER_VALUE');
  });

  it('loads a model written by MLflow (python_function + onnx flavors, JSON-string signature)', async () => {
    const model = await load(path.join(fixtures, 'mlflow-onnx'));
    expect(model.flavor).toBe('onnx');
    expect(model.metadata.run_id).toBe('0a1b2c3d4e5f60718293a4b5c6d7e8f9');
    expect(model.signature?.inputs?.map((c) => c.name)).toEqual(['sepal_length', 'sepal_width']);
    const out = (await model.predict([{ sepal_width: 1, sepal_length: 2 }])) as { probabilities: number[] }[];
    expect(out[0].probabilities[1]).toBeCloseTo(sigmoid(1.5 * 2 - 2 * 1 + 0.25), 6);
    const missing = await rejection(model.predict([{ sepal_length: 2 }]));
    expect(missing).toMatchObject({ code: 'INVALID_PARAMETER_VALUE', message: "Missing column 'sepal_width'" });
    const wrong = await rejection(model.predict([{ sepal_length: 'abc', sepal_width: 1 }]));
    expect(wrong.message).toMatch(/^Column 'sepal_length' expects double, got string "abc"/);
  });

  it('gives clear errors for a missing MLmodel, a missing or fake .onnx, and pickle-only models', async () => {
    expect(await rejection(load(freshDir()))).toMatchObject({ code: 'RESOURCE_DOES_NOT_EXIST', message: expect.stringMatching(/No MLmodel file/) });

    const noFile = freshDir();
    await cp(path.join(fixtures, 'mlflow-onnx', 'MLmodel'), path.join(noFile, 'MLmodel'), { recursive: true });
    expect(await rejection(load(noFile))).toMatchObject({ code: 'RESOURCE_DOES_NOT_EXIST', message: expect.stringMatching(/'model.onnx'.*missing/) });

    await writeFile(path.join(noFile, 'model.onnx'), 'this is just some text, not a protobuf\n');
    expect(await rejection(load(noFile))).toMatchObject({ code: 'INVALID_PARAMETER_VALUE', message: expect.stringMatching(/not an ONNX model/) });
    expect(await rejection(saveModel(freshDir(), { flavor: 'onnx', onnx: new TextEncoder().encode('hello') })))
      .toMatchObject({ code: 'INVALID_PARAMETER_VALUE' });

    const pickles = freshDir();
    await mkdir(pickles);
    await writeFile(path.join(pickles, 'MLmodel'), 'flavors:\n  python_function: {loader_module: mlflow.sklearn, model_path: model.pkl}\n  sklearn: {pickled_model: model.pkl}\n');
    await writeFile(path.join(pickles, 'model.pkl'), 'not read');
    expect(await rejection(load(pickles))).toMatchObject({
      code: 'INVALID_PARAMETER_VALUE', message: expect.stringMatching(/no flavor Flywheel can run \(onnx or js\).*never unpickles/),
    });
  });

  it('refuses flavor files outside the model dir, by path or through a symlink', async () => {
    const outside = path.join(root, 'outside.onnx');
    await writeFile(outside, buildLinearRegressionOnnx({ coefficients: [1], intercept: 0 }));
    const byPath = freshDir();
    await mkdir(byPath);
    await writeFile(path.join(byPath, 'MLmodel'), 'flavors:\n  onnx: {data: ../outside.onnx}\n');
    expect((await rejection(load(byPath))).message).toMatch(/relative path inside the model directory/);
    const byLink = freshDir();
    await mkdir(byLink);
    await writeFile(path.join(byLink, 'MLmodel'), 'flavors:\n  onnx: {data: model.onnx}\n');
    await symlink(outside, path.join(byLink, 'model.onnx'));
    expect((await rejection(load(byLink))).message).toMatch(/resolves outside the model directory/);
  });

  it('refuses ONNX external data', async () => {
    const model = onnx.ModelProto.decode(buildLinearRegressionOnnx({ coefficients: [1, 2], intercept: 0 }));
    const coef = model.graph!.initializer![0];
    coef.floatData = [];
    coef.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    coef.externalData = [onnx.StringStringEntryProto.create({ key: 'location', value: '../../../../etc/passwd' })];
    const bytes = onnx.ModelProto.encode(model).finish();
    const err = await rejection(saveModel(freshDir(), { flavor: 'onnx', onnx: bytes }));
    expect(err).toMatchObject({ code: 'INVALID_PARAMETER_VALUE', message: expect.stringMatching(/external data.*etc\/passwd|etc\/passwd.*external data/) });

    const dir = freshDir();
    await mkdir(dir);
    await writeFile(path.join(dir, 'MLmodel'), 'flavors:\n  onnx: {data: model.onnx}\n');
    await writeFile(path.join(dir, 'model.onnx'), bytes);
    expect((await rejection(load(dir))).message).toMatch(/refuses external data/);
  });
});

describe('js flavor', () => {
  it('runs only when the caller passes allowJs', async () => {
    const dir = freshDir();
    await saveModel(dir, { flavor: 'js', modulePath: path.join(fixtures, 'js', 'model.mjs') }, {
      signature: { inputs: [{ type: 'double', name: 'x', required: true }] },
    });
    expect(await rejection(load(dir))).toMatchObject({ code: 'PERMISSION_DENIED', message: expect.stringMatching(/only when you ask.*allowJs/) });
    const model = await load(dir, { allowJs: true });
    expect(model.flavor).toBe('js');
    expect(await model.predict([{ x: 2, ignored: 'z' }])).toEqual([{ y: 5 }]);
    expect((await rejection(model.predict([{ x: 'two' }]))).message).toMatch(/Column 'x' expects double/);
  });

  it('refuses saving into a directory that already holds a model', async () => {
    const dir = freshDir();
    await saveModel(dir, { flavor: 'js', modulePath: path.join(fixtures, 'js', 'model.mjs') });
    expect(await rejection(saveModel(dir, { flavor: 'js', modulePath: path.join(fixtures, 'js', 'model.mjs') })))
      .toMatchObject({ code: 'RESOURCE_ALREADY_EXISTS' });
  });
});
