/**
 * Population Stability Index as Evidently computes it (`evidently/legacy/calculations/stattests/psi.py`):
 * Σ (ref_i − cur_i)·ln(ref_i / cur_i) over bins of proportions, after Evidently's `get_binned_data` replaces
 * empty bins by a small share (see `fillEmptyShares`). Default drift threshold 0.1 (drift when PSI ≥ it).
 */

/**
 * Evidently's `feel_zeroes`: zero shares become min(non-zero)/10⁶ when the smallest non-zero share is ≤ 10⁻⁴,
 * else 10⁻⁴, so the logarithm stays finite. Returns a new array; all-zero input is returned unchanged.
 */
export function fillEmptyShares(shares: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(shares);
  let minNonZero = Infinity;
  for (const s of out) if (s !== 0 && s < minNonZero) minNonZero = s;
  if (minNonZero === Infinity) return out;
  const fill = minNonZero <= 0.0001 ? minNonZero / 1e6 : 0.0001;
  for (let i = 0; i < out.length; i++) if (out[i] === 0) out[i] = fill;
  return out;
}

/** PSI of two vectors of bin shares (each the bin's count over its sample's size), empty bins filled first. */
export function psi(referenceShares: ArrayLike<number>, currentShares: ArrayLike<number>): number {
  const ref = fillEmptyShares(referenceShares);
  const cur = fillEmptyShares(currentShares);
  let sum = 0;
  for (let i = 0; i < ref.length; i++) sum += (ref[i] - cur[i]) * Math.log(ref[i] / cur[i]);
  return sum;
}
