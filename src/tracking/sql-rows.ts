import type { KeyValue } from './entities.js';

/** Small helpers for turning rows into entities, shared by the SQL tracking modules. */
export function dedupeKeys<T extends { key: string }>(list: T[], keep: 'first' | 'last' = 'first'): T[] {
  const map = new Map<string, T>();
  for (const x of list) if (keep === 'last' || !map.has(x.key)) map.set(x.key, x);
  return [...map.values()];
}

export function groupBy<T, K>(list: T[], keyOf: (x: T) => K): Map<K, T[]> {
  const out = new Map<K, T[]>();
  for (const x of list) {
    const k = keyOf(x);
    const group = out.get(k);
    if (group) group.push(x);
    else out.set(k, [x]);
  }
  return out;
}

export const keyValues = (list: { key: string; value: string }[] = []): KeyValue[] => list.map(({ key, value }) => ({ key, value }));

export function chunks<T>(list: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** `base/part/part…`, without doubling a trailing slash of `base` (artifact locations of experiments, runs, models). */
export const joinUri = (base: string, ...parts: string[]) => [base.replace(/\/+$/, ''), ...parts].join('/');
