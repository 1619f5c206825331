import { createHash } from 'node:crypto';

/** Hex sha256 of a string or bytes. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** First 12 hex chars of a hash followed by an ellipsis, for human output. */
export function shortHash(hash: string | null | undefined): string {
  if (hash === null || hash === undefined) return 'none';
  return hash.length > 12 ? `${hash.slice(0, 12)}…` : hash;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Deterministic JSON: object keys sorted (by UTF-16 code unit order), no whitespace.
 * Values that JSON would silently lose or collapse (functions, symbols, bigint,
 * NaN/Infinity, Map/Set/class instances without toJSON, undefined array items)
 * throw a TypeError naming the path, so two different parameter sets can never
 * produce the same cache key by accident. `undefined` object properties are
 * omitted, as in JSON.stringify.
 */
export function canonicalJson(value: unknown, path = '$'): string {
  return stringify(value, path, new Set());
}

function stringify(value: unknown, path: string, seen: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${path}: non-finite number ${String(value)} is not JSON`);
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new TypeError(`${path}: ${typeof value} is not JSON`);
  }
  const obj = value as object;
  const toJSON = (obj as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    return stringify((toJSON as () => unknown).call(obj), path, seen);
  }
  if (seen.has(obj)) throw new TypeError(`${path}: circular structure is not JSON`);
  seen.add(obj);
  try {
    if (Array.isArray(obj)) {
      const items = obj.map((item: unknown, i) => {
        if (item === undefined) throw new TypeError(`${path}[${i}]: undefined is not JSON`);
        return stringify(item, `${path}[${i}]`, seen);
      });
      return `[${items.join(',')}]`;
    }
    if (!isPlainObject(obj)) {
      const name = (obj as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      throw new TypeError(`${path}: ${name} is not plain JSON (convert it to an object or array first)`);
    }
    const record = obj as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort();
    const members = keys.map((k) => `${JSON.stringify(k)}:${stringify(record[k], `${path}.${k}`, seen)}`);
    return `{${members.join(',')}}`;
  } finally {
    seen.delete(obj);
  }
}
