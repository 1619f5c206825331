/**
 * Test data for the monitoring tests: Irwin–Hall(4) − 2 (bell-shaped on [−2, 2]) from the MINSTD generator,
 * all integer arithmetic, so the scratch Python scripts that computed the expected values with scipy draw the
 * identical numbers:
 *
 *   def minstd(seed, n):
 *       s = seed; out = []
 *       for _ in range(n): s = (s * 48271) % 2147483647; out.append(s / 2147483647)
 *       return out
 *   def sample(seed, n, shift=0.0, scale=1.0):
 *       u = minstd(seed, 4 * n)
 *       return np.array([(u[4*i] + u[4*i+1] + u[4*i+2] + u[4*i+3] - 2) * scale + shift for i in range(n)])
 */
export function sample(seed: number, n: number, shift = 0, scale = 1): Float64Array {
  let s = seed;
  const u = () => (s = (s * 48271) % 2147483647) / 2147483647;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (u() + u() + u() + u() - 2) * scale + shift;
  return out;
}
