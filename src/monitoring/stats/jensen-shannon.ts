/**
 * Jensen–Shannon distance, `scipy.spatial.distance.jensenshannon(p, q, base)`: both vectors normalised to sum 1,
 * m = (p + q)/2, distance = sqrt((KL(p‖m) + KL(q‖m)) / 2), natural logarithm unless a base is given (Evidently
 * passes none, so its 0.1 threshold is on the natural-log distance, whose maximum is sqrt(ln 2) ≈ 0.833).
 */
export function jensenShannonDistance(p: ArrayLike<number>, q: ArrayLike<number>, base?: number): number {
  let sp = 0, sq = 0;
  for (let i = 0; i < p.length; i++) { sp += p[i]; sq += q[i]; }
  if (!(sp > 0) || !(sq > 0)) return NaN;
  let js = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i] / sp, qi = q[i] / sq;
    const m = (pi + qi) / 2;
    if (pi > 0) js += pi * Math.log(pi / m);
    if (qi > 0) js += qi * Math.log(qi / m);
  }
  if (base !== undefined) js /= Math.log(base);
  return Math.sqrt(Math.max(js, 0) / 2);
}
