/**
 * Model quality from labelled predictions, with scikit-learn's definitions: accuracy; precision, recall and F1
 * for the positive class (binary) or their unweighted mean over classes (macro), 0 where a ratio is 0/0
 * (sklearn's `zero_division` default, minus the warning); ROC AUC for binary scores, ties counted half as the
 * trapezoidal ROC curve does; log loss with probabilities clipped to [ε, 1 − ε], ε the float64 machine epsilon
 * (sklearn's `eps='auto'`); MAE, RMSE and R² for regressors. Undefined values are null with a note, never NaN.
 */
import { categoryKey, isMissing } from './columns.js';

export type Label = string | number | boolean;

export interface ClassificationOptions {
  /** The positive class for binary metrics; default 1 / true / "1" / "true" when that is one of the labels. */
  positiveLabel?: Label;
  /** 'binary' (2 labels and a positive one), 'macro', or chosen from the labels (default). */
  average?: 'binary' | 'macro';
  /** P(positive) per row, for ROC AUC and log loss of a binary classifier. */
  scores?: ArrayLike<number>;
  /** Per-row class probabilities in the order of `classes`, for multiclass log loss. */
  probabilities?: ArrayLike<ArrayLike<number>>;
  classes?: readonly Label[];
}

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface ClassificationMetrics {
  /** Rows with both a label and a prediction. */
  count: number;
  average: 'binary' | 'macro';
  positiveLabel: string | null;
  labels: string[];
  accuracy: number | null;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  perClass: Record<string, ClassMetrics>;
  rocAuc: number | null;
  logLoss: number | null;
  notes: string[];
}

export interface RegressionMetrics {
  count: number;
  mae: number | null;
  rmse: number | null;
  r2: number | null;
  notes: string[];
}

const EPS = Number.EPSILON;
const POSITIVE_DEFAULTS = ['1', 'true'];

export function classificationMetrics(yTrue: ArrayLike<unknown>, yPred: ArrayLike<unknown>, options: ClassificationOptions = {}): ClassificationMetrics {
  const notes: string[] = [];
  if (yTrue.length !== yPred.length) notes.push(`${yTrue.length} labels but ${yPred.length} predictions: compared the first ${Math.min(yTrue.length, yPred.length)}`);
  const n = Math.min(yTrue.length, yPred.length);
  const rows: number[] = [];
  for (let i = 0; i < n; i++) if (!isMissing(yTrue[i]) && !isMissing(yPred[i])) rows.push(i);
  if (rows.length < n) notes.push(`${n - rows.length} rows without a label or a prediction were skipped`);
  const t = rows.map((i) => categoryKey(yTrue[i]));
  const p = rows.map((i) => categoryKey(yPred[i]));
  const labels = [...new Set([...t, ...p])].sort();
  const positive = options.positiveLabel !== undefined ? categoryKey(options.positiveLabel) : (POSITIVE_DEFAULTS.find((l) => labels.includes(l)) ?? null);
  const average = options.average ?? (labels.length <= 2 && positive !== null ? 'binary' : 'macro');
  const empty: ClassificationMetrics = {
    count: rows.length, average, positiveLabel: average === 'binary' ? positive : null, labels, accuracy: null, precision: null,
    recall: null, f1: null, perClass: {}, rocAuc: null, logLoss: null, notes,
  };
  if (!rows.length) {
    notes.push('no labelled predictions');
    return empty;
  }
  let correct = 0;
  for (let i = 0; i < t.length; i++) if (t[i] === p[i]) correct++;
  const perClass: Record<string, ClassMetrics> = {};
  for (const label of labels) perClass[label] = classMetrics(t, p, label);
  const out: ClassificationMetrics = { ...empty, accuracy: correct / t.length, perClass };
  if (average === 'binary') {
    if (positive === null) {
      notes.push('binary metrics need a positive label');
    } else {
      const m = perClass[positive] ?? { precision: 0, recall: 0, f1: 0, support: 0 };
      Object.assign(out, { precision: m.precision, recall: m.recall, f1: m.f1 });
    }
  } else {
    const ms = Object.values(perClass);
    const mean = (k: keyof ClassMetrics) => ms.reduce((s, m) => s + m[k], 0) / ms.length;
    Object.assign(out, { precision: mean('precision'), recall: mean('recall'), f1: mean('f1') });
  }
  if (options.scores) {
    const truth = rows.map((i) => (positive !== null && categoryKey(yTrue[i]) === positive ? 1 : 0));
    const scores = rows.map((i) => Number(options.scores?.[i]));
    if (positive === null) notes.push('ROC AUC and log loss need a positive label');
    else {
      out.rocAuc = rocAuc(truth, scores);
      if (out.rocAuc === null) notes.push('ROC AUC is undefined when only one class is present');
      out.logLoss = binaryLogLoss(truth, scores);
    }
  } else if (options.probabilities && options.classes) {
    const classes = options.classes.map(categoryKey);
    out.logLoss = multiclassLogLoss(rows.map((i) => categoryKey(yTrue[i])), rows.map((i) => options.probabilities?.[i] as ArrayLike<number>), classes);
    if (out.logLoss === null) notes.push('log loss: a label is not among the probability columns');
  }
  return out;
}

function classMetrics(t: string[], p: string[], label: string): ClassMetrics {
  let tp = 0, fp = 0, fn = 0;
  for (let i = 0; i < t.length; i++) {
    const isT = t[i] === label, isP = p[i] === label;
    if (isT && isP) tp++;
    else if (isP) fp++;
    else if (isT) fn++;
  }
  const precision = tp + fp ? tp / (tp + fp) : 0;
  const recall = tp + fn ? tp / (tp + fn) : 0;
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1, support: tp + fn };
}

/**
 * Binary ROC AUC = the Mann–Whitney U of the positives' scores over n⁺·n⁻, with average ranks for ties, which
 * equals sklearn's trapezoidal area under the ROC curve. Null when a class is absent or a score is not finite.
 */
export function rocAuc(truth: ArrayLike<number>, scores: ArrayLike<number>): number | null {
  const n = truth.length;
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < n; i++) if (!Number.isFinite(scores[i])) return null;
  order.sort((a, b) => scores[a] - scores[b]);
  let nPos = 0;
  for (let i = 0; i < n; i++) if (truth[i] === 1) nPos++;
  const nNeg = n - nPos;
  if (!nPos || !nNeg) return null;
  let rankSum = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]] === scores[order[i]]) j++;
    const avgRank = (i + j + 2) / 2; // ranks are 1-based
    for (let k = i; k <= j; k++) if (truth[order[k]] === 1) rankSum += avgRank;
    i = j + 1;
  }
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/** Mean −[y·ln p + (1 − y)·ln(1 − p)], p clipped to [ε, 1 − ε]. Null when empty or a score is not a number. */
export function binaryLogLoss(truth: ArrayLike<number>, scores: ArrayLike<number>): number | null {
  if (!truth.length) return null;
  let sum = 0;
  for (let i = 0; i < truth.length; i++) {
    const s = scores[i];
    if (Number.isNaN(s)) return null;
    const p = Math.min(1 - EPS, Math.max(EPS, s));
    sum -= truth[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return sum / truth.length;
}

/** Multiclass log loss: each row clipped to [ε, 1 − ε] and renormalised, −ln of the true class's probability. */
export function multiclassLogLoss(labels: readonly string[], probabilities: readonly ArrayLike<number>[], classes: readonly string[]): number | null {
  if (!labels.length) return null;
  const index = new Map(classes.map((c, i) => [c, i]));
  let sum = 0;
  for (let r = 0; r < labels.length; r++) {
    const j = index.get(labels[r]);
    const row = probabilities[r];
    if (j === undefined || !row) return null;
    let total = 0;
    for (let c = 0; c < classes.length; c++) total += Math.min(1 - EPS, Math.max(EPS, row[c]));
    sum -= Math.log(Math.min(1 - EPS, Math.max(EPS, row[j])) / total);
  }
  return sum / labels.length;
}

/** MAE, RMSE and R² (1 − SS_res/SS_tot; sklearn's convention for constant truth: 1 if perfect, else 0). */
export function regressionMetrics(yTrue: ArrayLike<unknown>, yPred: ArrayLike<unknown>): RegressionMetrics {
  const notes: string[] = [];
  const n = Math.min(yTrue.length, yPred.length);
  if (yTrue.length !== yPred.length) notes.push(`${yTrue.length} labels but ${yPred.length} predictions: compared the first ${n}`);
  let count = 0, absSum = 0, sqSum = 0, mean = 0, m2 = 0;
  for (let i = 0; i < n; i++) {
    const y = yTrue[i], f = yPred[i];
    if (typeof y !== 'number' || typeof f !== 'number' || !Number.isFinite(y) || !Number.isFinite(f)) continue;
    count++;
    const e = y - f;
    absSum += Math.abs(e);
    sqSum += e * e;
    const d = y - mean;
    mean += d / count;
    m2 += d * (y - mean);
  }
  if (count < n) notes.push(`${n - count} rows without a numeric label or prediction were skipped`);
  if (!count) return { count, mae: null, rmse: null, r2: null, notes: [...notes, 'no labelled predictions'] };
  let r2: number | null;
  if (count < 2) {
    r2 = null;
    notes.push('R² needs at least two rows');
  } else {
    r2 = m2 === 0 ? (sqSum === 0 ? 1 : 0) : 1 - sqSum / m2;
  }
  return { count, mae: absSum / count, rmse: Math.sqrt(sqSum / count), r2, notes };
}
