import { FlywheelError, invalidParameter } from '../core/index.js';
import { decodeDouble } from './mlflow-json.js';

/**
 * Request-shape validation with MLflow's own messages ("Missing value for required parameter 'x'…",
 * "Invalid value 123 for parameter 'name' supplied: Hint: Value was of type 'int'…"). GET parameters arrive
 * as strings (or arrays of strings when repeated), POST bodies as JSON; both go through the same reader.
 */
const SEE_DOCS = 'See the API docs for more information about request parameters.';

export function missing(name: string): FlywheelError {
  return invalidParameter(`Missing value for required parameter '${name}'. ${SEE_DOCS}`);
}

function pyType(v: unknown): string {
  if (v === null) return 'NoneType';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'boolean') return 'bool';
  return 'dict';
}

function pyRepr(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  try {
    const s = JSON.stringify(v);
    return s.length > 200 ? `${s.slice(0, 200)}…` : s;
  } catch {
    return String(v);
  }
}

export function invalidValue(name: string, v: unknown, hint = ''): FlywheelError {
  return invalidParameter(
    `Invalid value ${pyRepr(v)} for parameter '${name}' supplied: ${hint} Hint: Value was of type '${pyType(v)}'. ${SEE_DOCS}`,
  );
}

export class Params {
  constructor(readonly raw: Record<string, unknown>) {}

  private get(name: string): unknown {
    const v = this.raw[name];
    return v === null ? undefined : v;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** A string field; GET repeats collapse to the first value. */
  string(name: string): string | undefined {
    let v = this.get(name);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) v = v[0];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw invalidValue(name, v);
    return v;
  }

  requiredString(name: string): string {
    const v = this.string(name);
    if (v === undefined || v === '') throw missing(name);
    return v;
  }

  /** `run_id`, with the legacy `run_uuid` alias. */
  runId(required = true): string {
    const v = this.string('run_id') || this.string('run_uuid');
    if (!v) {
      if (required) throw missing('run_id');
      return '';
    }
    return v;
  }

  /** An int64 field: a JSON integer, or a string of one (GET, proto JSON). */
  int(name: string): number | undefined {
    let v = this.get(name);
    if (Array.isArray(v) && v.length === 1) v = v[0];
    if (v === undefined || v === '') return undefined;
    if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
    if (typeof v === 'string' && /^-?\d{1,16}$/.test(v.trim())) return Number(v.trim());
    throw invalidValue(name, v);
  }

  requiredInt(name: string): number {
    const v = this.int(name);
    if (v === undefined) throw missing(name);
    return v;
  }

  double(name: string): number | undefined {
    const v = this.get(name);
    if (v === undefined) return undefined;
    const d = decodeDouble(v);
    if (d === undefined) throw invalidValue(name, v);
    return d;
  }

  requiredDouble(name: string): number {
    const v = this.double(name);
    if (v === undefined) throw missing(name);
    return v;
  }

  bool(name: string): boolean | undefined {
    const v = this.get(name);
    if (v === undefined) return undefined;
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === 'True') return true;
    if (v === 'false' || v === 'False') return false;
    throw invalidValue(name, v);
  }

  /** A repeated string field: a JSON array, or a repeated/ single GET key. */
  strings(name: string): string[] {
    const v = this.get(name);
    if (v === undefined) return [];
    const list = Array.isArray(v) ? v : typeof v === 'string' ? [v] : undefined;
    if (!list || !list.every((x) => typeof x === 'string')) throw invalidValue(name, v);
    return list as string[];
  }

  /** A repeated message field: an array of objects, returned as `Params` to read further. */
  objects(name: string): Params[] {
    const v = this.get(name);
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every((x) => x !== null && typeof x === 'object' && !Array.isArray(x))) {
      throw invalidValue(name, v);
    }
    return v.map((x) => new Params(x as Record<string, unknown>));
  }

  object(name: string): Params | undefined {
    const v = this.get(name);
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) throw invalidValue(name, v);
    return new Params(v as Record<string, unknown>);
  }

  /** An enum given by name; unknown names are ignored as MLflow's proto parser does. */
  enumValue<T extends string>(name: string, values: readonly T[]): T | undefined {
    const v = this.string(name);
    return v !== undefined && (values as readonly string[]).includes(v) ? (v as T) : undefined;
  }
}
