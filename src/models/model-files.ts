/** Files named by an MLmodel, resolved so that none can point outside the model directory. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { FlywheelError, invalidParameter } from '../core/index.js';

/** ONNX files beyond this are refused rather than read into memory. */
export const MAX_MODEL_FILE_BYTES = 2 * 1024 * 1024 * 1024 - 1;

/**
 * Resolves `relative` (from MLmodel) inside `modelDir`. Refuses absolute paths, `..`, and symlinks whose
 * target leaves the directory; checks the real path, not the spelling.
 */
export async function resolveModelFile(modelDir: string, relative: unknown, what: string): Promise<string> {
  if (typeof relative !== 'string' || relative.length === 0) {
    throw invalidParameter(`MLmodel does not name the ${what} file`);
  }
  if (relative.includes('\0') || path.isAbsolute(relative) || /^[a-zA-Z]:|^[\\/]/.test(relative) ||
      relative.split(/[\\/]/).includes('..')) {
    throw invalidParameter(`The ${what} file '${relative}' must be a relative path inside the model directory`);
  }
  const root = await fs.realpath(modelDir);
  const candidate = path.join(root, relative);
  let real: string;
  try {
    real = await fs.realpath(candidate);
  } catch {
    throw new FlywheelError('RESOURCE_DOES_NOT_EXIST', `The ${what} file '${relative}' named in MLmodel is missing from the model directory`);
  }
  if (real !== root && !real.startsWith(root + path.sep)) {
    throw invalidParameter(`The ${what} file '${relative}' resolves outside the model directory`);
  }
  const stat = await fs.stat(real);
  if (!stat.isFile()) throw invalidParameter(`The ${what} path '${relative}' is not a file`);
  return real;
}

export async function readModelFile(modelDir: string, relative: unknown, what: string): Promise<Buffer> {
  const file = await resolveModelFile(modelDir, relative, what);
  const { size } = await fs.stat(file);
  if (size > MAX_MODEL_FILE_BYTES) throw invalidParameter(`The ${what} file is too large (${size} bytes)`);
  return fs.readFile(file);
}
