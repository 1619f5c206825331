/**
 * MLflow's JSON encoding: doubles that are not finite travel as the strings "NaN", "Infinity" and
 * "-Infinity"; everything else is plain JSON (int64 as numbers, empty lists and unset fields omitted by the
 * entity builders).
 */
export function encodeDouble(v: number): number | string {
  if (Number.isFinite(v)) return v;
  if (Number.isNaN(v)) return 'NaN';
  return v > 0 ? 'Infinity' : '-Infinity';
}

/** Replaces non-finite `value` fields of metrics with their string form, without copying finite ones. */
export function encodeMetrics<T extends { value: number }>(metrics: T[]): (Omit<T, 'value'> & { value: number | string })[] {
  let out: (Omit<T, 'value'> & { value: number | string })[] | undefined;
  for (let i = 0; i < metrics.length; i++) {
    const m = metrics[i];
    if (!Number.isFinite(m.value)) {
      out ??= metrics.slice();
      out[i] = { ...m, value: encodeDouble(m.value) };
    }
  }
  return out ?? metrics;
}

export function decodeDouble(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v === 'NaN') return NaN;
    if (v === 'Infinity' || v === 'inf') return Infinity;
    if (v === '-Infinity' || v === '-inf') return -Infinity;
    if (v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  }
  return undefined;
}
