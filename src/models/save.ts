/** Writes a model directory: MLmodel, the flavor's files, and optionally an input example. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { alreadyExists, invalidParameter, newRunId } from '../core/index.js';
import { createOnnxSession, DEFAULT_ONNX_FILE, ONNX_FLAVOR } from './flavors/onnx.js';
import { DEFAULT_JS_MODULE, JS_FLAVOR } from './flavors/js.js';
import { writeInputExample } from './input-example.js';
import {
  FLYWHEEL_VERSION, formatUtcTimeCreated, MLFLOW_COMPAT_VERSION, MLMODEL_FILE, writeMLmodel,
  type FlavorConfig, type MLmodel,
} from './mlmodel.js';
import { buildOnnxModel, type OnnxModelSpec } from './onnx-builders.js';
import { serializeSignature, validateSignature, type ModelInput, type ModelSignature } from './signature.js';

/** The onnx version Flywheel's graphs follow (onnx-proto 8 is generated from onnx v1.10.2). */
export const ONNX_VERSION = '1.10.2';

export type SaveModelFlavor =
  | { flavor: 'onnx'; onnx: Uint8Array | OnnxModelSpec }
  | { flavor: 'js'; modulePath: string };

export interface SaveModelOptions {
  signature?: ModelSignature;
  inputExample?: ModelInput;
  runId?: string | null;
  artifactPath?: string | null;
  /** MLflow 3 logged model id (`m-…`); also used as model_uuid when set, as MLflow 3 does. */
  modelId?: string | null;
  metadata?: Record<string, unknown>;
  /** Defaults to now. */
  createdAt?: Date;
}

async function prepareDir(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const exists = await fs.stat(path.join(dir, MLMODEL_FILE)).then(() => true, () => false);
  if (exists) throw alreadyExists(`'${dir}' already holds a model (MLmodel exists)`);
}

async function writeOnnx(dir: string, onnx: Uint8Array | OnnxModelSpec): Promise<Record<string, FlavorConfig>> {
  const bytes = onnx instanceof Uint8Array ? onnx : buildOnnxModel(onnx);
  // Refuse at save time what the loader would refuse (not ONNX, external data, unloadable).
  const session = await createOnnxSession(bytes, 'onnx model');
  await session.release();
  await fs.writeFile(path.join(dir, DEFAULT_ONNX_FILE), bytes);
  return {
    // Same keys as mlflow.onnx.log_model, so Python MLflow can load Flywheel's onnx models.
    onnx: { onnx_version: ONNX_VERSION, data: DEFAULT_ONNX_FILE, providers: ['CPUExecutionProvider'], code: null },
    python_function: { loader_module: 'mlflow.onnx', data: DEFAULT_ONNX_FILE, code: null },
  };
}

async function writeJs(dir: string, modulePath: string): Promise<Record<string, FlavorConfig>> {
  if (!/\.(m?js)$/.test(modulePath)) {
    throw invalidParameter('A js model module must be compiled JavaScript (.mjs or .js); compile TypeScript first');
  }
  // One self-contained ES module: copied as .mjs so it loads as ESM wherever the directory goes.
  await fs.copyFile(modulePath, path.join(dir, DEFAULT_JS_MODULE));
  return { js: { module: DEFAULT_JS_MODULE, flywheel_version: FLYWHEEL_VERSION } };
}

async function directorySize(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await fs.stat(path.join(entry.parentPath, entry.name))).size;
  }
  return total;
}

/** Saves a model into `dir` (created if needed; refused if it already holds a model). Returns the MLmodel. */
export async function saveModel(dir: string, model: SaveModelFlavor, options: SaveModelOptions = {}): Promise<MLmodel> {
  const signature = options.signature ? validateSignature(options.signature) : undefined;
  await prepareDir(dir);
  let flavors: Record<string, FlavorConfig>;
  if (model.flavor === ONNX_FLAVOR) flavors = await writeOnnx(dir, model.onnx);
  else if (model.flavor === JS_FLAVOR) flavors = await writeJs(dir, model.modulePath);
  else throw invalidParameter(`Unknown flavor '${(model as { flavor: unknown }).flavor}' (use 'onnx' or 'js')`);

  const mlmodel: MLmodel = {
    artifact_path: options.artifactPath ?? null,
    run_id: options.runId ?? null,
    model_uuid: options.modelId ?? newRunId(),
    ...(options.modelId ? { model_id: options.modelId } : {}),
    utc_time_created: formatUtcTimeCreated(options.createdAt ?? new Date()),
    mlflow_version: MLFLOW_COMPAT_VERSION,
    flywheel_version: FLYWHEEL_VERSION,
    flavors,
    ...(signature ? { signature: serializeSignature(signature) } : {}),
    ...(options.metadata ? { metadata: options.metadata } : {}),
  };
  if (options.inputExample !== undefined) {
    mlmodel.saved_input_example_info = await writeInputExample(dir, options.inputExample);
  }
  mlmodel.model_size_bytes = await directorySize(dir);
  await writeMLmodel(dir, mlmodel);
  return mlmodel;
}
