/** Histogram bins as numpy builds them, so PSI and Jensen–Shannon on numbers bin exactly as Evidently does. */

/**
 * `np.histogram_bin_edges(values, bins='sturges')` for data with the given count, min and max: equal-width
 * bins, ⌈ptp / (ptp / (log2 n + 1))⌉ of them (computed literally, as numpy does), a range of ±0.5 around a
 * constant.
 */
export function sturgesEdges(count: number, min: number, max: number): Float64Array {
  let first = min, last = max;
  if (first === last) {
    first -= 0.5;
    last += 0.5;
  }
  const width = (max - min) / (Math.log2(count) + 1);
  const bins = width ? Math.ceil((last - first) / width) : 1;
  return linspace(first, last, bins + 1);
}

/** `np.linspace(start, stop, num)`: start + i·step, the last value set to stop exactly. */
export function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  const step = (stop - start) / (num - 1);
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  if (num > 1) out[num - 1] = stop;
  return out;
}

/**
 * `np.histogram(values, edges)[0]` for ascending-sorted values: bin i holds edges[i] ≤ v < edges[i+1], the last
 * bin also its right edge; values outside the edges are not counted.
 */
export function histogramSorted(sorted: ArrayLike<number>, edges: ArrayLike<number>): Float64Array {
  const bins = edges.length - 1;
  const counts = new Float64Array(Math.max(bins, 0));
  if (bins <= 0) return counts;
  const lastEdge = edges[bins];
  let b = 0;
  for (let i = 0; i < sorted.length; i++) {
    const v = sorted[i];
    if (v < edges[0] || v > lastEdge) continue;
    while (b < bins - 1 && v >= edges[b + 1]) b++;
    counts[b]++;
  }
  return counts;
}

/** Index of the bin of `v` in `edges` as `histogramSorted` assigns it, or -1 outside; for unsorted streams. */
export function binIndex(edges: ArrayLike<number>, v: number): number {
  const bins = edges.length - 1;
  if (!(v >= edges[0] && v <= edges[bins])) return -1;
  let lo = 0, hi = bins - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (v >= edges[mid]) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
