import type { Run } from '../tracking/index.js';
import type { Params } from './mlflow-request.js';
import { encodeMetrics } from './mlflow-json.js';
import { invalidValue, missing } from './mlflow-request.js';
import type { DatasetInput, KeyValue, Metric } from '../tracking/index.js';

/** Wire conversions for tracking entities: request lists in, runs out (non-finite metric values as strings). */
export function wireRun(run: Run): unknown {
  if (!run.data.metrics?.some((m) => !Number.isFinite(m.value))) return run;
  return { ...run, data: { ...run.data, metrics: encodeMetrics(run.data.metrics) } };
}

export function readKeyValues(p: Params, field: string, valueRequired = true): KeyValue[] {
  return p.objects(field).map((o) => {
    const key = o.string('key');
    if (key === undefined || key === '') throw missing(`${field}.key`);
    const value = o.string('value');
    if (value === undefined) {
      if (valueRequired) throw missing(`${field}.value`);
      return { key, value: '' };
    }
    return { key, value };
  });
}

/**
 * The metrics of a log-batch body. The common, well-formed case is read directly (a batch holds up to
 * 1,000 of them); anything unusual goes through `readMetric` for MLflow's exact messages.
 */
export function readMetrics(p: Params): Metric[] {
  const list = p.raw.metrics;
  if (Array.isArray(list)) {
    const out: Metric[] = new Array(list.length);
    let i = 0;
    for (; i < list.length; i++) {
      const m = list[i] as Record<string, unknown> | null;
      if (
        m === null || typeof m !== 'object' || typeof m.key !== 'string' || m.key === '' || typeof m.value !== 'number' ||
        typeof m.timestamp !== 'number' || !Number.isSafeInteger(m.timestamp) ||
        (m.step !== undefined && (typeof m.step !== 'number' || !Number.isSafeInteger(m.step)))
      ) break;
      out[i] = { key: m.key, value: m.value, timestamp: m.timestamp, step: (m.step as number | undefined) ?? 0 };
    }
    if (i === list.length) return out;
  }
  return p.objects('metrics').map((m) => readMetric(m, 'metrics.'));
}

export function readMetric(o: Params, prefix = ''): Metric {
  const key = o.string('key');
  if (key === undefined || key === '') throw missing(`${prefix}key`);
  if (!o.has('value')) throw missing(`${prefix}value`);
  const value = o.double('value')!;
  if (!o.has('timestamp')) throw missing(`${prefix}timestamp`);
  const timestamp = o.int('timestamp')!;
  const step = o.int('step') ?? 0;
  return { key, value, timestamp, step };
}

export function readDatasetInputs(p: Params): DatasetInput[] {
  return p.objects('datasets').map((d) => {
    const ds = d.object('dataset');
    if (!ds) throw missing('datasets.dataset');
    const dataset = {
      name: ds.string('name') ?? '',
      digest: ds.string('digest') ?? '',
      source_type: ds.string('source_type') ?? '',
      source: ds.string('source') ?? '',
      ...(ds.string('schema') !== undefined ? { schema: ds.string('schema') } : {}),
      ...(ds.string('profile') !== undefined ? { profile: ds.string('profile') } : {}),
    };
    const tags = readKeyValues(d, 'tags');
    return tags.length ? { dataset, tags } : { dataset };
  });
}

export function positiveInt(p: Params, name: string, max: number, fallback?: number): number | undefined {
  const v = p.int(name);
  if (v === undefined) return fallback;
  if (v < 1 || v > max) throw invalidValue(name, p.raw[name]);
  return v;
}
