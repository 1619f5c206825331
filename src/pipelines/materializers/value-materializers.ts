import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { invalidParameter } from '../../core/errors.js';
import type { Materializer, Visualization } from './types.js';
import { sniffImage } from './visualizations.js';

const JSON_FILE = 'data.json';
const TEXT_FILE = 'data.txt';
const BYTES_FILE = 'data.bin';
const PREVIEW_CHARS = 2000;

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Where `value` stops surviving a JSON round trip unchanged (e.g. `$.a[2]: undefined`), or undefined when it
 * survives. Cycles are reported rather than overflowing the stack.
 */
export function jsonProblem(value: unknown, at = '$', seen = new Set<object>()): string | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `${at}: ${value} is not valid JSON`;
  if (typeof value !== 'object') return `${at}: a ${typeof value} is not valid JSON`;
  if (seen.has(value)) return `${at}: circular reference`;
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const p = jsonProblem(value[i], `${at}[${i}]`, seen);
        if (p) return p;
      }
      return undefined;
    }
    if (!isPlainObject(value)) return `${at}: a ${value.constructor?.name ?? 'non-plain'} object is not valid JSON`;
    for (const [k, v] of Object.entries(value)) {
      const p = jsonProblem(v, `${at}.${k}`, seen);
      if (p) return p;
    }
    return undefined;
  } finally {
    seen.delete(value);
  }
}

function truncate(text: string): string {
  return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text;
}

function encodeJson(value: unknown): Buffer {
  const problem = jsonProblem(value);
  if (problem) throw invalidParameter(`Value cannot be stored as JSON: ${problem}`);
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** Plain JSON values: null, booleans, finite numbers, arrays and plain objects (strings go to `string`). */
export const jsonMaterializer: Materializer<unknown> = {
  name: 'json',
  version: '1',
  type: 'json',
  canHandle: (value) => typeof value !== 'string' && jsonProblem(value) === undefined,
  async save(value, dir) {
    await writeFile(join(dir, JSON_FILE), encodeJson(value));
  },
  async load(dir) {
    return JSON.parse(await readFile(join(dir, JSON_FILE), 'utf8')) as unknown;
  },
  inMemory: {
    file: JSON_FILE,
    encode: encodeJson,
    decode: (bytes) => JSON.parse(bytes.toString('utf8')) as unknown,
  },
  async visualize(value): Promise<Visualization[]> {
    return [{ kind: 'markdown', markdown: `\`\`\`json\n${truncate(JSON.stringify(value, null, 2))}\n\`\`\`` }];
  },
};

export const stringMaterializer: Materializer<string> = {
  name: 'string',
  version: '1',
  type: 'string',
  canHandle: (value) => typeof value === 'string',
  async save(value, dir) {
    await writeFile(join(dir, TEXT_FILE), value, 'utf8');
  },
  async load(dir) {
    return readFile(join(dir, TEXT_FILE), 'utf8');
  },
  inMemory: {
    file: TEXT_FILE,
    encode: (value) => Buffer.from(value, 'utf8'),
    decode: (bytes) => bytes.toString('utf8'),
  },
};

/** Raw bytes (a Uint8Array or Buffer); loaded back as a Buffer. */
export const bytesMaterializer: Materializer<Uint8Array> = {
  name: 'bytes',
  version: '1',
  type: 'bytes',
  canHandle: (value) => value instanceof Uint8Array,
  async save(value, dir) {
    await writeFile(join(dir, BYTES_FILE), value);
  },
  async load(dir) {
    return readFile(join(dir, BYTES_FILE));
  },
  // Copies both ways: the step may change its array after returning it, a consumer the Buffer it gets.
  inMemory: {
    file: BYTES_FILE,
    encode: (value) => Buffer.from(value),
    decode: (bytes) => Buffer.from(bytes),
  },
  /** Bytes that are an image (by magic number) show as that image. */
  async visualize(value): Promise<Visualization[]> {
    const mimeType = sniffImage(value);
    return mimeType ? [{ kind: 'image', mimeType, path: BYTES_FILE }] : [];
  },
};
