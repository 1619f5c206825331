/**
 * Monitoring: drift of a 1,000,000-row window × 30 features (24 numeric, 6 categorical) against a 100,000-row
 * reference, with Evidently's defaults (reference > 1000 rows: Wasserstein normed for numbers, Jensen–Shannon
 * for categories). Six numeric and two categorical features are shifted. The reference is prepared
 * (sorted, counted) once before the clock starts, as the server keeps it per model version; the timed part is
 * `detectDrift` on the raw columns. Target: under 5 s. A second line times the same with PSI on every feature,
 * a third the defaults through `DriftWorkerPool` (one worker thread plus the calling thread: both cores).
 */
import { DriftWorkerPool, detectDrift, prepareReference, type Columns } from '../src/monitoring/index.js';
import { progress, report, round } from './stats.js';

const REFERENCE_ROWS = 100_000;
const CURRENT_ROWS = 1_000_000;
const NUMERIC = 24;
const CATEGORICAL = 6;
const CATEGORIES = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];

/** xorshift32: fast and seeded, so every run compares the same data. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x / 4294967296;
  };
}

function makeColumns(rows: number, seed: number, shifted: boolean): Columns {
  const next = rng(seed);
  const columns: Columns = {};
  for (let f = 0; f < NUMERIC; f++) {
    const col = new Float64Array(rows);
    const shift = shifted && f < 6 ? 0.3 : 0;
    const scale = 1 + f * 0.5;
    for (let i = 0; i < rows; i++) {
      // Irwin–Hall(3): bell-shaped without transcendental functions; 1 % missing.
      col[i] = next() < 0.01 ? NaN : (next() + next() + next() - 1.5 + shift) * scale + f;
    }
    columns[`num_${f}`] = col;
  }
  for (let f = 0; f < CATEGORICAL; f++) {
    const skew = shifted && f < 2 ? 2.5 : 1.5;
    columns[`cat_${f}`] = Array.from({ length: rows }, () => CATEGORIES[Math.floor(CATEGORIES.length * next() ** skew)]);
  }
  return columns;
}

/** CPU time of this process since `start` (user + system, all its threads, GC included): on a shared machine
 * it moves far less than wall time, so it says what the code costs when the wall clock says what others did. */
function cpuMs(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return round((d.user + d.system) / 1000, 0);
}

export async function run(): Promise<void> {
  progress(`generating ${REFERENCE_ROWS.toLocaleString()} reference and ${CURRENT_ROWS.toLocaleString()} current rows × ${NUMERIC + CATEGORICAL} features`);
  const referenceColumns = makeColumns(REFERENCE_ROWS, 1, false);
  const current = makeColumns(CURRENT_ROWS, 2, true);

  let t = performance.now();
  const reference = prepareReference(referenceColumns);
  const prepareMs = performance.now() - t;

  progress('warm-up on a 100,000-row slice');
  const slice: Columns = Object.fromEntries(Object.entries(current).map(([k, v]) => [k, v instanceof Float64Array ? v.subarray(0, 100_000) : Array.from(v).slice(0, 100_000)]));
  detectDrift(reference, slice);

  progress('detectDrift, defaults');
  t = performance.now();
  let cpu = process.cpuUsage();
  const result = detectDrift(reference, current);
  const driftMs = performance.now() - t;
  const driftCpu = cpuMs(cpu);
  report({
    bench: 'monitoring-drift', case: 'defaults', reference_rows: REFERENCE_ROWS, current_rows: CURRENT_ROWS, features: NUMERIC + CATEGORICAL,
    ms: round(driftMs, 0), cpu_ms: driftCpu, target_ms: 5000, prepare_reference_ms: round(prepareMs, 0),
    drifted_features: result.driftedFeatures, dataset_drift: result.datasetDrift,
  });

  progress('detectDrift, PSI on every feature');
  t = performance.now();
  cpu = process.cpuUsage();
  const psi = detectDrift(reference, current, { numeric: { method: 'psi' }, categorical: { method: 'psi' } });
  const psiMs = performance.now() - t;
  const psiCpu = cpuMs(cpu);
  report({
    bench: 'monitoring-drift', case: 'psi', reference_rows: REFERENCE_ROWS, current_rows: CURRENT_ROWS, features: NUMERIC + CATEGORICAL,
    ms: round(psiMs, 0), cpu_ms: psiCpu, target_ms: 5000, drifted_features: psi.driftedFeatures,
  });

  progress('DriftWorkerPool, defaults (1 worker + this thread)');
  const pool = new DriftWorkerPool({ workers: 1 });
  try {
    await pool.detect(reference, slice); // starts and warms the worker
    t = performance.now();
    const pooled = await pool.detect(reference, current);
    report({
      bench: 'monitoring-drift', case: 'defaults-pool', reference_rows: REFERENCE_ROWS, current_rows: CURRENT_ROWS, features: NUMERIC + CATEGORICAL,
      ms: round(performance.now() - t, 0), target_ms: 5000, threads: 2, drifted_features: pooled.driftedFeatures,
    });
  } finally {
    await pool.close();
  }
}
