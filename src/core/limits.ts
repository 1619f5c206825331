import { invalidParameter } from './errors.js';

/** MLflow's input limits (mlflow/utils/validation.py), the same on every entry point. */
export const LIMITS = {
  keyLength: 250,
  paramValueLength: 6000,
  runTagValueLength: 8000,
  experimentNameLength: 500,
  experimentTagKeyLength: 250,
  experimentTagValueLength: 5000,
  batchMetrics: 1000,
  batchParams: 100,
  batchTags: 100,
  batchTotal: 1000,
  batchBytes: 1_000_000,
  searchRunsMaxResults: 50_000,
  searchRunsDefault: 1000,
  searchExperimentsMaxResults: 50_000,
  bulkRunIds: 100,
  bulkIntervalMaxResults: 2500,
  bulkMaxResults: 25_000,
  datasetName: 500,
  datasetDigest: 36,
  datasetSource: 65_535,
  datasetSchema: 1_048_576,
  datasetProfile: 16_777_216,
  inputTagKey: 255,
  inputTagValue: 500,
  datasetsPerLogInputs: 1000,
} as const;

const KEY_CHARS = /^[\p{L}\p{N}_\-. :/]*$/u;

/** Metric, param and tag names: MLflow's charset, and a normalised relative path (no `..`, `//`, leading `/`). */
export function validateKey(key: string, what: 'metric' | 'param' | 'tag' = 'tag'): void {
  if (!KEY_CHARS.test(key)) {
    throw invalidParameter(
      `Invalid value "${key}" for parameter 'name' supplied: Names may only contain alphanumerics, underscores (_), ` +
        `dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).`,
    );
  }
  if (!isNormalisedRelativePath(key)) {
    throw invalidParameter(
      `Invalid value "${key}" for parameter 'name' supplied: Names cannot be a path that can be normalized ` +
        `to another path (no '..', '//', './' or a leading '/').`,
    );
  }
  if (key.length > LIMITS.keyLength) {
    throw invalidParameter(
      `${what === 'metric' ? 'Metric' : what === 'param' ? 'Param' : 'Tag'} key '${key.slice(0, 50)}…' had length ` +
        `${key.length}, which exceeded length limit of ${LIMITS.keyLength}`,
    );
  }
}

function isNormalisedRelativePath(p: string): boolean {
  if (p === '') return true;
  if (p.startsWith('/')) return false;
  const parts = p.split('/');
  return parts.every((s, i) => s !== '.' && s !== '..' && (s !== '' || i === parts.length - 1)) && !p.endsWith('/');
}

export function validateLength(value: string, limit: number, what: string): void {
  if (value.length > limit) {
    throw invalidParameter(`'${what}' exceeds the maximum length of ${limit} characters (got ${value.length})`);
  }
}

/** MLflow truncates over-long param and run-tag values rather than refusing them. */
export function truncate(value: string, limit: number): string {
  return value.length > limit ? value.slice(0, limit) : value;
}
