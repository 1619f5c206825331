// The worker pool gives the same report as detectDrift, computed on worker threads off the caller's event loop.
import { afterAll, describe, expect, it } from 'vitest';
import { DriftWorkerPool, detectDrift, prepareReference } from '../src/monitoring/index.js';
import { sample } from './monitoring-data.js';


describe('DriftWorkerPool', () => {
  const pool = new DriftWorkerPool({ workers: 2 });
  afterAll(() => pool.close());

  it('matches detectDrift feature for feature, in the same order', async () => {
    const reference = prepareReference({
      a: sample(1, 3000), b: sample(2, 3000), c: sample(3, 800), kind: Array.from(sample(4, 3000), (v) => (v > 0 ? 'p' : 'n')), pred: sample(5, 3000),
    });
    const current = { a: sample(6, 20000, 0.2), b: sample(7, 20000), c: sample(8, 20000, 0.5), kind: Array.from(sample(9, 20000), (v) => (v > 0.3 ? 'p' : 'n')), pred: sample(10, 20000) };
    const options = { prediction: 'pred', perFeature: { b: { method: 'psi' as const } } };
    const [inPool, direct] = [await pool.detect(reference, current, options), detectDrift(reference, current, options)];
    expect(inPool).toEqual(direct);
    expect(inPool.features.map((f) => f.feature)).toEqual(['a', 'b', 'c', 'kind']);
    // A window lacking a column and an empty window are reported the same way too.
    const partial = { a: current.a };
    expect(await pool.detect(reference, partial)).toEqual(detectDrift(reference, partial));
    expect(await pool.detect(reference, {})).toEqual(detectDrift(reference, {}));
  });

  it('rejects invalid options like detectDrift, and refuses work once closed', async () => {
    const reference = prepareReference({ a: sample(1, 100) });
    await expect(pool.detect(reference, { a: sample(2, 100) }, { driftShare: 3 })).rejects.toThrow(/driftShare/);
    const closed = new DriftWorkerPool({ workers: 1 });
    await closed.close();
    await expect(closed.detect(reference, { a: sample(2, 100) })).rejects.toThrow(/closed/);
  });
});
