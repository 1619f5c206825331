/**
 * Pearson's chi-square goodness-of-fit test, `scipy.stats.chisquare(f_obs, f_exp)`: statistic Σ (o − e)²/e,
 * p-value from the chi-square distribution with k − 1 degrees of freedom (jstat's regularized incomplete gamma).
 * Evidently's drift test calls it with current counts against reference counts scaled to the current size.
 */
import jStat from 'jstat';

export interface ChiSquareResult {
  statistic: number;
  pValue: number;
  dof: number;
}

/**
 * A category expected 0 times but observed gives statistic Infinity and p-value 0 (scipy does the same, with a
 * warning). With fewer than two categories there is nothing to test: statistic 0, p-value 1, dof 0.
 */
export function chiSquareTest(observed: ArrayLike<number>, expected: ArrayLike<number>): ChiSquareResult {
  const k = observed.length;
  if (k < 2) return { statistic: 0, pValue: 1, dof: 0 };
  let stat = 0;
  for (let i = 0; i < k; i++) {
    const o = observed[i], e = expected[i];
    const diff = o - e;
    if (e === 0) stat += diff === 0 ? 0 : Infinity;
    else stat += (diff * diff) / e;
  }
  const dof = k - 1;
  return { statistic: stat, pValue: chiSquareSf(stat, dof), dof };
}

/** Upper tail of the chi-square distribution, Pr(X ≥ x). */
export function chiSquareSf(x: number, dof: number): number {
  if (x === Infinity) return 0;
  if (!(x > 0)) return 1;
  return Math.min(1, Math.max(0, 1 - jStat.lowRegGamma(dof / 2, x / 2)));
}

/** Evidently's `_chi_stat_test`: current counts against reference counts × (current size / reference size). */
export function chiSquareAgainstReference(referenceCounts: ArrayLike<number>, currentCounts: ArrayLike<number>): ChiSquareResult {
  let nRef = 0, nCur = 0;
  for (let i = 0; i < referenceCounts.length; i++) { nRef += referenceCounts[i]; nCur += currentCounts[i]; }
  const k = nCur / nRef;
  const expected = Float64Array.from(referenceCounts, (c) => c * k);
  return chiSquareTest(currentCounts, expected);
}
