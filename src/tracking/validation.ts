import { invalidParameter, LIMITS, truncate, validateKey, validateLength } from '../core/index.js';
import type { DatasetInput, KeyValue, Metric } from './entities.js';

/** Domain validation shared by every entry point (HTTP and embedded SDK). */
export function checkMetric(m: Metric, validKeys?: Set<string>): void {
  // A batch repeats a few keys many times: each distinct key is checked once.
  if (!validKeys?.has(m.key)) {
    validateKey(m.key, 'metric');
    validKeys?.add(m.key);
  }
  if (typeof m.value !== 'number') throw invalidParameter(`Got invalid value ${String(m.value)} for metric '${m.key}'`);
  if (!Number.isSafeInteger(m.timestamp) || m.timestamp < 0) {
    throw invalidParameter(`Got invalid timestamp ${m.timestamp} for metric '${m.key}' (value=${m.value}). Timestamp must be a nonnegative long (64-bit integer)`);
  }
  if (!Number.isSafeInteger(m.step)) {
    throw invalidParameter(`Got invalid step ${m.step} for metric '${m.key}' (value=${m.value}). Step must be a valid long (64-bit integer).`);
  }
}

export function checkParam(p: KeyValue): KeyValue {
  validateKey(p.key, 'param');
  if (typeof p.value !== 'string') throw invalidParameter(`Param value for key '${p.key}' must be a string`);
  return { key: p.key, value: truncate(p.value, LIMITS.paramValueLength) };
}

export function checkRunTag(t: KeyValue): KeyValue {
  validateKey(t.key, 'tag');
  if (typeof t.value !== 'string') throw invalidParameter(`Tag value for key '${t.key}' must be a string`);
  return { key: t.key, value: truncate(t.value, LIMITS.runTagValueLength) };
}

export function checkExperimentTag(t: KeyValue): void {
  validateKey(t.key, 'tag');
  validateLength(t.key, LIMITS.experimentTagKeyLength, 'key');
  validateLength(t.value, LIMITS.experimentTagValueLength, 'value');
}

export function checkExperimentName(name: unknown): string {
  if (typeof name !== 'string' || name.trim() === '') {
    throw invalidParameter(`Invalid experiment name: '${String(name)}'`);
  }
  validateLength(name, LIMITS.experimentNameLength, 'name');
  return name;
}

export function checkBatchLimits(metrics: number, params: number, tags: number): void {
  const over = (n: number, max: number, what: string) => {
    if (n > max) {
      throw invalidParameter(
        `A batch logging request can contain at most ${max} ${what}. Got ${n} ${what}. Please split up ${what} across multiple requests and try again.`,
      );
    }
  };
  over(metrics, LIMITS.batchMetrics, 'metrics');
  over(params, LIMITS.batchParams, 'params');
  over(tags, LIMITS.batchTags, 'tags');
  const total = metrics + params + tags;
  if (total > LIMITS.batchTotal) {
    throw invalidParameter(
      `A batch logging request can contain at most ${LIMITS.batchTotal} total metrics, params and tags. Got ${total}. Please split up across multiple requests and try again.`,
    );
  }
}

export function checkDatasetInput(d: DatasetInput): void {
  const ds = d.dataset;
  if (!ds || typeof ds !== 'object') throw invalidParameter("Missing value for required parameter 'dataset'.");
  for (const f of ['name', 'digest', 'source_type', 'source'] as const) {
    if (typeof ds[f] !== 'string' || ds[f] === '') throw invalidParameter(`Missing value for required parameter 'dataset.${f}'.`);
  }
  validateLength(ds.name, LIMITS.datasetName, 'dataset.name');
  validateLength(ds.digest, LIMITS.datasetDigest, 'dataset.digest');
  validateLength(ds.source, LIMITS.datasetSource, 'dataset.source');
  if (ds.schema !== undefined) validateLength(ds.schema, LIMITS.datasetSchema, 'dataset.schema');
  if (ds.profile !== undefined) validateLength(ds.profile, LIMITS.datasetProfile, 'dataset.profile');
  for (const t of d.tags ?? []) {
    if (typeof t.key !== 'string' || t.key === '') throw invalidParameter("Missing value for required parameter 'tags.key'.");
    if (typeof t.value !== 'string') throw invalidParameter("Missing value for required parameter 'tags.value'.");
    validateLength(t.key, LIMITS.inputTagKey, 'input tag key');
    validateLength(t.value, LIMITS.inputTagValue, 'input tag value');
  }
}
