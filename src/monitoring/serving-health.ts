/** Serving health of a window of requests: request rate, error rate, latency percentiles. */
import { sortedFinite } from './stats/sort.js';

/**
 * Percentile q ∈ [0, 100] of ascending-sorted values with numpy's default (method='linear'): position
 * (n − 1)·q/100, interpolated between its neighbours. Null when empty.
 */
export function percentileSorted(sorted: ArrayLike<number>, q: number): number | null {
  const n = sorted.length;
  if (!n) return null;
  const pos = ((n - 1) * Math.min(100, Math.max(0, q))) / 100;
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  const frac = pos - lo;
  return frac === 0 ? sorted[lo] : sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

export interface ServingHealth {
  requests: number;
  errors: number;
  /** errors / requests; null for a window without requests. */
  errorRate: number | null;
  /** requests / window seconds; null without a window length. */
  requestsPerSecond: number | null;
  /** Latency percentiles in milliseconds over the requests that report one. */
  latencyMs: { p50: number | null; p90: number | null; p95: number | null; p99: number | null; max: number | null; mean: number | null };
}

export interface ServingRecord {
  latencyMs?: number | null;
  /** True (or an HTTP status ≥ 500 in `status`) marks a failed request. */
  error?: boolean;
  status?: number;
}

/** Summarises a window's requests; `windowSeconds` is the window's length (for the request rate). */
export function servingHealth(records: readonly ServingRecord[], windowSeconds?: number): ServingHealth {
  let errors = 0;
  const latencies: number[] = [];
  for (const r of records) {
    if (r.error === true || (r.status !== undefined && r.status >= 500)) errors++;
    if (typeof r.latencyMs === 'number') latencies.push(r.latencyMs);
  }
  const sorted = sortedFinite(latencies);
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    requests: records.length,
    errors,
    errorRate: records.length ? errors / records.length : null,
    requestsPerSecond: windowSeconds && windowSeconds > 0 ? records.length / windowSeconds : null,
    latencyMs: {
      p50: percentileSorted(sorted, 50),
      p90: percentileSorted(sorted, 90),
      p95: percentileSorted(sorted, 95),
      p99: percentileSorted(sorted, 99),
      max: sorted.length ? sorted[sorted.length - 1] : null,
      mean: sorted.length ? sum / sorted.length : null,
    },
  };
}
