import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Flywheel, buildLinearRegressionOnnx } from '../src/index.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/** The README's "Models and the registry" example, as written, against a real server. */
describe('README example', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  it('logs, registers, promotes and loads a TypeScript-built ONNX model', async () => {
    const fw = await Flywheel.connect(s.url);
    await fw.withRun({ experimentName: 'prices' }, async (run) => {
      await run.logModel(
        { flavor: 'onnx', onnx: buildLinearRegressionOnnx({ coefficients: [2, 3], intercept: 1 }) },
        { signature: { inputs: [{ name: 'a', type: 'double' }, { name: 'b', type: 'double' }] }, registeredModelName: 'prices' },
      );
    });
    await fw.setAlias('prices', 'champion', '1', { reason: 'beats the baseline' });
    const model = await fw.loadModel('models:/prices@champion');
    const [prediction] = (await model.predict([{ a: 1, b: 2 }])) as Record<string, unknown>[];
    expect(Object.values(prediction)[0]).toBeCloseTo(9, 5);
    const history = await fw.getPromotionHistory('prices');
    expect(history[0]).toMatchObject({ to_version: '1', reason: 'beats the baseline' });
    await model.close();
    await fw.close();
  });
});
