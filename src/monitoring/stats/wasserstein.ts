/**
 * First Wasserstein (earth mover's) distance between two samples, as `scipy.stats.wasserstein_distance(u, v)`
 * computes it without weights: ∫|F_u(x) − F_v(x)| dx over the merged support, in one pass over the two
 * ascending-sorted samples (O(n + m)).
 */

/** W1 of two ascending-sorted samples without missing values; NaN when either is empty. */
export function wassersteinDistance(u: ArrayLike<number>, v: ArrayLike<number>): number {
  const n1 = u.length, n2 = v.length;
  if (n1 === 0 || n2 === 0) return NaN;
  // Walk the merged order one value at a time: between consecutive values x and next, the ECDFs are i/n1 and
  // j/n2. Ties need no special case (their segments have zero length).
  const inv1 = 1 / n1, inv2 = 1 / n2;
  let i = 0, j = 0;
  let x = u[0] < v[0] ? u[0] : v[0];
  let sum = 0;
  while (i < n1 && j < n2) {
    const a = u[i], b = v[j];
    const next = a <= b ? a : b;
    sum += Math.abs(i * inv1 - j * inv2) * (next - x);
    x = next;
    if (a <= b) i++;
    else j++;
  }
  // One sample is exhausted (its ECDF is 1): the other's remaining values close the gap.
  for (; i < n1; i++) { sum += (1 - i * inv1) * (u[i] - x); x = u[i]; }
  for (; j < n2; j++) { sum += (1 - j * inv2) * (v[j] - x); x = v[j]; }
  return sum;
}

/** Population standard deviation (numpy's `np.std`, ddof 0) by Welford's update. */
export function populationStd(values: ArrayLike<number>): number {
  let mean = 0, m2 = 0;
  for (let i = 0; i < values.length; i++) {
    const d = values[i] - mean;
    mean += d / (i + 1);
    m2 += d * (values[i] - mean);
  }
  return values.length ? Math.sqrt(m2 / values.length) : NaN;
}

/** Evidently's floor under the reference std, so a constant reference does not divide by zero. */
export const WASSERSTEIN_NORM_FLOOR = 0.001;

/**
 * Evidently's "Wasserstein distance (normed)": W1(reference, current) / max(std(reference), 0.001).
 * `referenceStd` is the population std of the reference (pass it when cached).
 */
export function wassersteinNormed(reference: ArrayLike<number>, current: ArrayLike<number>, referenceStd = populationStd(reference)): number {
  return wassersteinDistance(reference, current) / Math.max(referenceStd, WASSERSTEIN_NORM_FLOOR);
}
