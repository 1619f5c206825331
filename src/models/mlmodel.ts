/**
 * The `MLmodel` file: MLflow's YAML description of a model directory. Parsed with the YAML core schema
 * only (no custom or language tags), because MLmodel files arrive from users and are shown in the UI.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseDocument, stringify } from 'yaml';
import { FlywheelError, invalidParameter } from '../core/index.js';

export const MLMODEL_FILE = 'MLmodel';
/** Written as `mlflow_version` so MLflow clients accept the file; `flywheel_version` says who wrote it. */
export const MLFLOW_COMPAT_VERSION = '2.17.2';
export const FLYWHEEL_VERSION = '0.1.0';
/** Large enough for real MLmodel files, small enough that a hostile one cannot exhaust memory. */
const MAX_MLMODEL_BYTES = 1024 * 1024;

export type FlavorConfig = Record<string, unknown>;

export interface SavedInputExampleInfo {
  artifact_path: string;
  type: string;
  [key: string]: unknown;
}

/** Signature as stored in MLmodel: each part is a JSON string (MLflow's layout). */
export interface StoredSignature {
  inputs?: string | null;
  outputs?: string | null;
  params?: string | null;
}

export interface MLmodel {
  artifact_path?: string | null;
  run_id?: string | null;
  model_uuid?: string | null;
  model_id?: string | null;
  utc_time_created?: string | null;
  mlflow_version?: string | null;
  flywheel_version?: string | null;
  flavors: Record<string, FlavorConfig>;
  signature?: StoredSignature | null;
  saved_input_example_info?: SavedInputExampleInfo | null;
  model_size_bytes?: number | null;
  metadata?: Record<string, unknown> | null;
  /** Keys Flywheel does not know are kept so a rewrite loses nothing. */
  [key: string]: unknown;
}

const isMapping = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, the naive timestamp MLflow writes. */
export function formatUtcTimeCreated(date: Date): string {
  const iso = date.toISOString(); // 2024-01-02T03:04:05.678Z
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}000`;
}

export function parseMLmodel(text: string, source = MLMODEL_FILE): MLmodel {
  let doc;
  try {
    // core schema + no custom tags: `!!js/function` and friends are errors, not objects.
    doc = parseDocument(text, { schema: 'core', customTags: [], uniqueKeys: true, prettyErrors: false });
  } catch (e) {
    throw invalidParameter(`${source} is not valid YAML: ${(e as Error).message}`);
  }
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) {
    throw invalidParameter(`${source} is not valid YAML: ${problems[0].message.split('\n')[0]}`);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw invalidParameter(`${source} is not valid YAML: ${(e as Error).message}`);
  }
  if (!isMapping(data)) {
    const kind = data === null || data === undefined ? 'empty' : Array.isArray(data) ? 'a list' : `a ${typeof data}`;
    throw invalidParameter(`${source} must be a YAML mapping of model fields, but it is ${kind}`);
  }
  const flavors = data.flavors;
  if (!isMapping(flavors) || Object.keys(flavors).length === 0) {
    throw invalidParameter(`${source} has no 'flavors' mapping; a model needs at least one flavor`);
  }
  for (const [name, config] of Object.entries(flavors)) {
    if (config !== null && !isMapping(config)) {
      throw invalidParameter(`${source}: flavor '${name}' must be a mapping of settings`);
    }
    if (config === null) flavors[name] = {};
  }
  const sig = data.signature;
  if (sig !== undefined && sig !== null) {
    if (!isMapping(sig)) throw invalidParameter(`${source}: 'signature' must be a mapping with inputs/outputs`);
    for (const part of ['inputs', 'outputs', 'params'] as const) {
      const v = sig[part];
      if (v !== undefined && v !== null && typeof v !== 'string') {
        throw invalidParameter(`${source}: signature.${part} must be a JSON string`);
      }
    }
  }
  for (const key of ['artifact_path', 'run_id', 'model_uuid', 'model_id', 'utc_time_created', 'mlflow_version']) {
    const v = data[key];
    if (v !== undefined && v !== null && typeof v !== 'string') {
      // YAML may read an unquoted id or version as a number; keep it as the text it was.
      if (typeof v === 'number') data[key] = String(v);
      else throw invalidParameter(`${source}: '${key}' must be a string`);
    }
  }
  const info = data.saved_input_example_info;
  if (info !== undefined && info !== null && (!isMapping(info) || typeof info.artifact_path !== 'string')) {
    throw invalidParameter(`${source}: 'saved_input_example_info' must be a mapping with an artifact_path`);
  }
  return data as MLmodel;
}

export function serializeMLmodel(model: MLmodel): string {
  // Drop undefined so the file holds only what was set; null stays (MLflow writes `run_id: null`).
  const clean = JSON.parse(JSON.stringify(model)) as MLmodel;
  return stringify(clean, { schema: 'core', lineWidth: 0, sortMapEntries: true });
}

export async function readMLmodel(modelDir: string): Promise<MLmodel> {
  const file = path.join(modelDir, MLMODEL_FILE);
  let stat;
  try {
    stat = await fs.stat(file);
  } catch {
    throw new FlywheelError(
      'RESOURCE_DOES_NOT_EXIST',
      `No MLmodel file in '${modelDir}': a model directory must contain an MLmodel file`,
    );
  }
  if (!stat.isFile()) throw invalidParameter(`'${file}' is not a file`);
  if (stat.size > MAX_MLMODEL_BYTES) {
    throw invalidParameter(`MLmodel file is ${stat.size} bytes; the limit is ${MAX_MLMODEL_BYTES}`);
  }
  return parseMLmodel(await fs.readFile(file, 'utf8'));
}

export async function writeMLmodel(modelDir: string, model: MLmodel): Promise<void> {
  await fs.writeFile(path.join(modelDir, MLMODEL_FILE), serializeMLmodel(model), 'utf8');
}
