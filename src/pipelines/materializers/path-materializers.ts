import { existsSync } from 'node:fs';
import { copyFile, cp, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { FlywheelError, invalidParameter } from '../../core/errors.js';
import { MLMODEL_FILE, readMLmodel } from '../../models/mlmodel.js';
import { listDirectoryFiles } from './content-store.js';
import { LocalDirectory, LocalFile, ModelDirectory, type Materializer, type Visualization } from './types.js';
import { fileVisualization } from './visualizations.js';

/** Files of a directory artifact shown as visualizations, at most. */
const MAX_FILE_VISUALIZATIONS = 10;

async function filesVisualizations(dir: string): Promise<Visualization[]> {
  const out: Visualization[] = [];
  for (const f of await listDirectoryFiles(dir)) {
    const v = await fileVisualization(dir, f.path);
    if (v) out.push(v);
    if (out.length >= MAX_FILE_VISUALIZATIONS) break;
  }
  return out;
}

async function statOrThrow(path: string, what: string) {
  try {
    return await stat(path);
  } catch {
    throw new FlywheelError('RESOURCE_DOES_NOT_EXIST', `${what} '${path}' does not exist`);
  }
}

async function copyTree(from: string, to: string): Promise<void> {
  const st = await statOrThrow(from, 'Directory');
  if (!st.isDirectory()) throw invalidParameter(`'${from}' is not a directory`);
  // Links are followed: the artifact is a snapshot of the content, not of the links.
  await cp(from, to, { recursive: true, dereference: true, errorOnExist: true, force: false });
}

/** A single file, stored under its base name. */
export const fileMaterializer: Materializer<LocalFile> = {
  name: 'file',
  version: '1',
  type: 'file',
  keepsFiles: true,
  canHandle: (value) => value instanceof LocalFile,
  async save(value, dir) {
    const st = await statOrThrow(value.path, 'File');
    if (!st.isFile()) throw invalidParameter(`'${value.path}' is not a regular file`);
    await copyFile(value.path, join(dir, basename(value.path)));
  },
  async load(dir) {
    const files = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile());
    if (files.length !== 1) {
      throw new FlywheelError('DATA_LOSS', `A file artifact holds ${files.length} files in '${dir}', expected 1`);
    }
    return new LocalFile(join(dir, files[0].name));
  },
  /** An image, HTML or markdown file shows as itself. */
  async visualize(value, dir) {
    const v = await fileVisualization(dir, basename(value.path));
    return v ? [v] : [];
  },
};

export const directoryMaterializer: Materializer<LocalDirectory> = {
  name: 'directory',
  version: '1',
  type: 'directory',
  keepsFiles: true,
  canHandle: (value) => value instanceof LocalDirectory,
  save: (value, dir) => copyTree(value.path, dir),
  async load(dir) {
    return new LocalDirectory(dir);
  },
  /** Images, HTML and markdown files in the tree (the first few, by path). */
  visualize: (_value, dir) => filesVisualizations(dir),
};

/**
 * A saved Flywheel model (a directory with an MLmodel file), stored in the model format so it can be
 * loaded with `loadModelFromDirectory` and registered. A LocalDirectory holding an MLmodel is a model too.
 */
export const modelMaterializer: Materializer<ModelDirectory> = {
  name: 'model',
  version: '1',
  type: 'model',
  keepsFiles: true,
  canHandle: (value) =>
    value instanceof ModelDirectory || (value instanceof LocalDirectory && existsSync(join(value.path, MLMODEL_FILE))),
  async save(value, dir) {
    await readMLmodel(value.path); // refuses a directory that is not a valid model, with the reason
    await copyTree(value.path, dir);
  },
  async load(dir) {
    await readMLmodel(dir);
    return new ModelDirectory(dir);
  },
  async visualize(_value, dir) {
    const mlmodel = await readMLmodel(dir);
    const lines = ['**Model**', '', `- flavors: ${Object.keys(mlmodel.flavors ?? {}).join(', ') || '(none)'}`];
    if (mlmodel.signature?.inputs) lines.push(`- inputs: \`${mlmodel.signature.inputs}\``);
    if (mlmodel.signature?.outputs) lines.push(`- outputs: \`${mlmodel.signature.outputs}\``);
    return [{ kind: 'markdown', markdown: lines.join('\n') }];
  },
};
