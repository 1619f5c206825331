/**
 * Two-sample Kolmogorov–Smirnov test, two-sided, as `scipy.stats.ks_2samp(a, b, method='auto')` computes it
 * (scipy 1.17, `scipy/stats/_stats_py.py` and `_stats_pythran.py`): exact p-value when both samples have at
 * most 10,000 values, otherwise the asymptotic one, `kstwo.sf(D, round(m·n/(m+n)))`.
 *
 * The exact p-value counts lattice paths (Hodges 1958, "The significance probability of the Smirnov
 * two-sample test", Ark. Mat. 3) with the numerically stable recursion for 1 − p of Viehmann (2021),
 * arXiv:2102.08037, for unequal sizes, and the closed alternating sum for equal sizes.
 */
import { kolmogorovSf } from './kolmogorov.js';

export type KsMethod = 'auto' | 'exact' | 'asymp';

export interface KsResult {
  statistic: number;
  pValue: number;
  /** The method that produced `pValue` (`auto` resolves to one of these; `exact` falls back when it fails). */
  method: 'exact' | 'asymp';
}

const MAX_AUTO_N = 10000;
const INT32_MAX = 2 ** 31 - 1;

/** The KS statistic sup|F_a − F_b| of two ascending-sorted samples without missing values, in one merge pass. */
export function ksStatistic(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n1 = a.length, n2 = b.length;
  let i = 0, j = 0, d = 0;
  while (i < n1 && j < n2) {
    const v = a[i] <= b[j] ? a[i] : b[j];
    while (i < n1 && a[i] === v) i++;
    while (j < n2 && b[j] === v) j++;
    const diff = Math.abs(i / n1 - j / n2);
    if (diff > d) d = diff;
  }
  // Past the end of one sample the other's ECDF only climbs towards 1, shrinking the gap: d is final.
  return d;
}

/**
 * Two-sided two-sample KS test of ascending-sorted samples (no NaN). Throws nothing: an empty sample gives
 * `{ statistic: NaN, pValue: NaN }`, which callers report as "no data".
 */
export function ksTwoSample(a: ArrayLike<number>, b: ArrayLike<number>, method: KsMethod = 'auto'): KsResult {
  const n1 = a.length, n2 = b.length;
  if (n1 === 0 || n2 === 0) return { statistic: NaN, pValue: NaN, method: method === 'exact' ? 'exact' : 'asymp' };
  let d = ksStatistic(a, b);
  const g = gcd(n1, n2);
  let mode: 'exact' | 'asymp';
  if (method === 'auto') mode = Math.max(n1, n2) <= MAX_AUTO_N ? 'exact' : 'asymp';
  else if (method === 'exact' && n1 / g >= INT32_MAX / (n2 / g)) mode = 'asymp';
  else mode = method;

  if (mode === 'exact') {
    const exact = exactTwoSided(n1, n2, g, d);
    if (exact) return { statistic: exact.d, pValue: clip(exact.p), method: 'exact' };
    mode = 'asymp';
  }
  const [m, n] = n1 >= n2 ? [n1, n2] : [n2, n1];
  const en = (m * n) / (m + n);
  const p = kolmogorovSf(roundHalfEven(en), d);
  return { statistic: d, pValue: clip(p), method: 'asymp' };
}

/** scipy's `_attempt_exact_2kssamp` for the two-sided alternative; undefined when the computation fails. */
function exactTwoSided(n1: number, n2: number, g: number, d: number): { d: number; p: number } | undefined {
  const lcm = (n1 / g) * n2;
  const h = roundHalfEven(d * lcm);
  d = h / lcm;
  if (h === 0) return { d, p: 1 };
  const p = n1 === n2 ? probOutsideSquare(n1, h) : outerProbInside(n1, n2, g, h);
  if (!(p >= 0 && p <= 1)) return undefined;
  return { d, p };
}

/** Pr(D_{n,n} ≥ h/n) = 2·Σ (−1)^{k−1} C(2n, n−kh)/C(2n, n), evaluated Horner-like to avoid cancellation. */
function probOutsideSquare(n: number, h: number): number {
  let P = 0;
  for (let k = Math.floor(n / h); k >= 0; k--) {
    let p1 = 1;
    for (let j = 0; j < h; j++) p1 = ((n - k * h - j) * p1) / (n + k * h + j + 1);
    P = p1 * (1 - P);
  }
  return 2 * P;
}

/** Proportion of lattice paths (0,0)→(m,n) that leave |x/m − y/n| < h/lcm(m,n): scipy's `_compute_outer_prob_inside_method`. */
function outerProbInside(m: number, n: number, g: number, h: number): number {
  if (m < n) [m, n] = [n, m];
  const mg = m / g, ng = n / g;
  let minj = 0;
  let maxj = Math.min(Math.ceil(h / mg), n + 1);
  let curlen = maxj - minj;
  const lenA = Math.min(2 * maxj + 2, n + 1);
  const A = new Float64Array(lenA).fill(1);
  A.fill(0, minj, maxj);
  for (let i = 1; i <= m; i++) {
    const lastminj = minj, lastlen = curlen;
    minj = Math.min(Math.max(Math.floor((ng * i - h) / mg) + 1, 0), n);
    maxj = Math.min(Math.ceil((ng * i + h) / mg), n + 1);
    if (maxj <= minj) return 1;
    let val = minj === 0 ? 0 : 1;
    for (let jj = 0; jj < maxj - minj; jj++) {
      const j = jj + minj;
      val = (A[jj + minj - lastminj] * i + val * j) / (i + j);
      A[jj] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) A.fill(1, maxj - minj, maxj - minj + (lastlen - curlen));
  }
  return A[maxj - minj - 1];
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** numpy's `np.round`: halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const clip = (p: number) => Math.min(1, Math.max(0, p));
