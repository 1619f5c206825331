import { invalidParameter } from '../../core/errors.js';
import type { ViewType } from '../entities.js';

/** Request-level checks shared by the searches: max_results, view types, experiment ids. */
export const MAX_RESULTS_LIMIT = 50_000;

const pyType = (v: unknown) =>
  typeof v === 'number' ? (Number.isInteger(v) ? 'int' : 'float') : typeof v === 'string' ? 'str' : typeof v;

/** `max_results`: omitted → the default; otherwise an integer in 1..limit (MLflow's message otherwise). */
export function validateMaxResults(value: unknown, fallback: number, limit = MAX_RESULTS_LIMIT): number {
  if (value === undefined || value === null) return fallback;
  const n = typeof value === 'string' && /^\d{1,16}$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > limit) {
    const shown = typeof value === 'string' ? `"${value.slice(0, 100)}"` : String(value);
    throw invalidParameter(
      `Invalid value ${shown} for parameter 'max_results' supplied:  Hint: Value was of type '${pyType(value)}'. ` +
        `See the API docs for more information about request parameters.`,
    );
  }
  return n;
}

const VIEW_TYPE_NUMBERS: Record<number, ViewType> = { 1: 'ACTIVE_ONLY', 2: 'DELETED_ONLY', 3: 'ALL' };

/** ACTIVE_ONLY (default), DELETED_ONLY or ALL; the proto's enum numbers are accepted too. */
export function parseViewType(value: unknown, param = 'run_view_type'): ViewType {
  if (value === undefined || value === null || value === '') return 'ACTIVE_ONLY';
  if (value === 'ACTIVE_ONLY' || value === 'DELETED_ONLY' || value === 'ALL') return value;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d$/.test(value) ? Number(value) : NaN;
  const v = VIEW_TYPE_NUMBERS[n];
  if (v) return v;
  throw invalidParameter(
    `Invalid value ${JSON.stringify(String(value).slice(0, 100))} for parameter '${param}': ` +
      `expected one of ACTIVE_ONLY, DELETED_ONLY, ALL`,
  );
}

/** The lifecycle_stage values a view type selects, or undefined for all. */
export function lifecycleStages(view: ViewType): string | undefined {
  return view === 'ACTIVE_ONLY' ? 'active' : view === 'DELETED_ONLY' ? 'deleted' : undefined;
}

const MAX_INT32 = 2_147_483_647;

/**
 * Experiment ids as stored integers. Ids that are not decimal integers in range cannot name an
 * experiment, so they are dropped (and simply match nothing), as MLflow's SQL store behaves.
 */
/**
 * An experiment id as the store keeps it (a 32-bit integer), or undefined for anything else: such an id
 * names no experiment, and must not reach the database (PostgreSQL refuses out-of-range integers).
 */
export function parseExperimentId(id: unknown): number | undefined {
  const text = typeof id === 'number' ? String(id) : typeof id === 'string' ? id.trim() : '';
  if (!/^\d{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= MAX_INT32 ? n : undefined;
}

export function experimentIdList(ids: unknown): number[] {
  if (ids === undefined || ids === null) return [];
  const list = Array.isArray(ids) ? ids : [ids];
  const out = new Set<number>();
  for (const id of list) {
    const n = parseExperimentId(id);
    if (n !== undefined) out.add(n);
  }
  return [...out];
}
