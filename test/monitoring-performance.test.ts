// Model performance and serving health against scikit-learn's definitions. sklearn is not installed here, so the
// expected numbers were computed with numpy following sklearn's code, e.g. ROC AUC as `roc_curve` builds it:
//   order = np.argsort(-s, kind='mergesort'); ss = s[order]; yy = y[order]
//   idx = np.r_[np.where(np.diff(ss))[0], yy.size - 1]; tps = np.cumsum(yy)[idx]; fps = 1 + idx - tps
//   np.trapezoid(np.r_[0, tps] / tps[-1], np.r_[0, fps] / fps[-1])
//   eps = np.finfo(float).eps; p = np.clip(s, eps, 1 - eps); -np.mean(y*np.log(p) + (1-y)*np.log(1-p))
//   np.percentile(lat, q)                                   # numpy's default linear interpolation
import { describe, expect, it } from 'vitest';
import { classificationMetrics, percentileSorted, regressionMetrics, rocAuc, servingHealth } from '../src/monitoring/index.js';

const Y = [1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1];
const S = [0.9, 0.4, 0.65, 0.4, 0.2, 0.4, 0.8, 0.65, 0.3, 0.99, 0.05, 0.65];

describe('classification metrics', () => {
  it('binary: accuracy, precision, recall, F1, ROC AUC with tied scores, log loss', () => {
    const m = classificationMetrics(Y, S.map((s) => (s >= 0.5 ? 1 : 0)), { scores: S });
    expect(m).toMatchObject({ count: 12, average: 'binary', positiveLabel: '1', accuracy: 0.75 });
    expect(m.precision).toBeCloseTo(0.8333333333333334, 12);
    expect(m.recall).toBeCloseTo(0.7142857142857143, 12);
    expect(m.f1).toBeCloseTo(0.7692307692307692, 12);
    expect(m.rocAuc).toBeCloseTo(0.8285714285714286, 12);
    expect(m.logLoss).toBeCloseTo(0.4721911657452463, 12);
  });

  it('log loss clips certain-and-wrong probabilities to machine epsilon instead of returning Infinity', () => {
    const m = classificationMetrics([1, 1, 0], [1, 0, 1], { scores: [1, 0, 0.7] });
    expect(m.logLoss).toBeCloseTo(12.415875397814363, 10);
  });

  it('multiclass: macro averages of per-class metrics; log loss over probability columns', () => {
    const t = ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'a', 'c', 'b'];
    const p = ['a', 'b', 'b', 'a', 'c', 'c', 'b', 'a', 'c', 'a'];
    const probs = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.5, 0.3], [0.6, 0.3, 0.1], [0.3, 0.3, 0.4], [0.1, 0.1, 0.8], [0.4, 0.5, 0.1], [0.9, 0.05, 0.05], [0.2, 0.2, 0.6], [0.5, 0.4, 0.1]];
    const m = classificationMetrics(t, p, { probabilities: probs, classes: ['a', 'b', 'c'] });
    expect(m).toMatchObject({ average: 'macro', labels: ['a', 'b', 'c'], accuracy: 0.6 });
    expect(m.precision).toBeCloseTo(0.5833333333333334, 12);
    expect(m.recall).toBeCloseTo(0.5833333333333334, 12);
    expect(m.f1).toBeCloseTo(0.5833333333333334, 12);
    expect(m.perClass.a).toEqual({ precision: 0.75, recall: 0.75, f1: 0.75, support: 4 });
    expect(m.logLoss).toBeCloseTo(0.6170500882157142, 12);
  });

  it('undefined values are null with a reason: no labels, one class for ROC AUC, no predicted positive', () => {
    const none = classificationMetrics([null, undefined], [1, 0]);
    expect(none).toMatchObject({ count: 0, accuracy: null, f1: null });
    expect(none.notes.join(' ')).toMatch(/no labelled predictions/);
    const oneClass = classificationMetrics([1, 1, 1], [1, 0, 1], { scores: [0.9, 0.2, 0.8] });
    expect(oneClass.rocAuc).toBeNull();
    expect(oneClass.notes.join(' ')).toMatch(/only one class/);
    // sklearn's zero_division: nothing predicted positive gives precision 0, not NaN.
    expect(classificationMetrics([1, 0], [0, 0])).toMatchObject({ precision: 0, recall: 0, f1: 0, accuracy: 0.5 });
    expect(rocAuc([1, 0], [NaN, 0.3])).toBeNull();
  });

  it('booleans and string labels pick the positive class "true" / "1"; an explicit one wins', () => {
    expect(classificationMetrics([true, false, true], [true, true, true])).toMatchObject({ positiveLabel: 'true', precision: 2 / 3, recall: 1 });
    expect(classificationMetrics(['spam', 'ham'], ['spam', 'spam'], { positiveLabel: 'ham' })).toMatchObject({ average: 'binary', precision: 0, recall: 0 });
  });
});

describe('regression metrics', () => {
  it('MAE, RMSE, R²', () => {
    const m = regressionMetrics([3.0, -0.5, 2.0, 7.0, 4.2], [2.5, 0.0, 2.1, 7.8, 3.9]);
    expect(m.count).toBe(5);
    expect(m.mae).toBeCloseTo(0.44000000000000006, 12);
    expect(m.rmse).toBeCloseTo(0.49799598391954925, 12);
    expect(m.r2).toBeCloseTo(0.9594665271966527, 12);
  });

  it('skips rows without numbers; constant truth follows sklearn (1 if perfect, else 0); empty is null', () => {
    expect(regressionMetrics([1, null, 3], [1, 2, NaN])).toMatchObject({ count: 1, r2: null });
    expect(regressionMetrics([2, 2], [2, 2]).r2).toBe(1);
    expect(regressionMetrics([2, 2], [2, 3]).r2).toBe(0);
    expect(regressionMetrics([], [])).toMatchObject({ count: 0, mae: null, rmse: null, r2: null });
  });
});

describe('serving health', () => {
  it('latency percentiles as numpy`s default, error rate, request rate', () => {
    const latencies = [12.0, 3.5, 7.25, 100.0, 8.0, 9.5, 4.0, 15.0, 6.0, 11.0, 2.0];
    const records = latencies.map((latencyMs, i) => ({ latencyMs, status: i === 3 ? 503 : 200, error: i === 5 }));
    const h = servingHealth([...records, { latencyMs: null, error: true }], 60);
    expect(h).toMatchObject({ requests: 12, errors: 3, errorRate: 0.25, requestsPerSecond: 0.2 });
    expect(h.latencyMs.p50).toBe(8);
    expect(h.latencyMs.p90).toBe(15);
    expect(h.latencyMs.p95).toBeCloseTo(57.5, 12);
    expect(h.latencyMs.p99).toBeCloseTo(91.50000000000003, 12);
    expect(h.latencyMs.max).toBe(100);
  });

  it('an empty window has nulls, not NaN', () => {
    expect(servingHealth([], 60)).toMatchObject({ requests: 0, errorRate: null, requestsPerSecond: 0, latencyMs: { p50: null, p99: null, mean: null } });
    expect(percentileSorted([5], 99)).toBe(5);
  });
});
