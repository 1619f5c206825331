/** input_example.json and serving_input_example.json, in the layout MLflow writes. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { invalidParameter } from '../core/index.js';
import type { SavedInputExampleInfo } from './mlmodel.js';
import type { ModelInput, SplitFrame } from './signature.js';

export const INPUT_EXAMPLE_FILE = 'input_example.json';
export const SERVING_INPUT_EXAMPLE_FILE = 'serving_input_example.json';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function toSplit(example: ModelInput): SplitFrame | undefined {
  if (isRecord(example) && Array.isArray(example.columns) && Array.isArray(example.data)) {
    return { columns: example.columns as string[], data: example.data as unknown[][] };
  }
  if (Array.isArray(example) && example.length > 0 && example.every(isRecord)) {
    const columns = [...new Set(example.flatMap((r) => Object.keys(r as Record<string, unknown>)))];
    return { columns, data: example.map((r) => columns.map((c) => (r as Record<string, unknown>)[c] ?? null)) };
  }
  return undefined;
}

export async function writeInputExample(modelDir: string, example: ModelInput): Promise<SavedInputExampleInfo> {
  const split = toSplit(example);
  let body: unknown;
  let serving: unknown;
  let info: SavedInputExampleInfo;
  if (split) {
    body = split;
    serving = { dataframe_split: split };
    info = { artifact_path: INPUT_EXAMPLE_FILE, type: 'dataframe', pandas_orient: 'split' };
  } else if (Array.isArray(example) || isRecord(example)) {
    body = example;
    serving = { inputs: example };
    info = { artifact_path: INPUT_EXAMPLE_FILE, type: Array.isArray(example) ? 'ndarray' : 'json_object' };
  } else {
    throw invalidParameter('inputExample must be records, {columns, data}, or a nested array');
  }
  info.serving_input_path = SERVING_INPUT_EXAMPLE_FILE;
  await fs.writeFile(path.join(modelDir, INPUT_EXAMPLE_FILE), JSON.stringify(body), 'utf8');
  await fs.writeFile(path.join(modelDir, SERVING_INPUT_EXAMPLE_FILE), JSON.stringify(serving, null, 2), 'utf8');
  return info;
}
