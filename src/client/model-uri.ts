import { invalidParameter } from '../core/index.js';
import { STAGES, type Stage } from '../registry/entities.js';

/** What a model URI names (MLflow's `models:/` and `runs:/` schemes, or a plain artifact URI). */
export type ParsedModelUri =
  | { kind: 'version'; name: string; version: string }
  | { kind: 'alias'; name: string; alias: string }
  | { kind: 'stage'; name: string; stage: Stage }
  | { kind: 'latest'; name: string }
  | { kind: 'logged-model'; modelId: string; path: string }
  | { kind: 'run'; runId: string; path: string }
  | { kind: 'artifact'; uri: string };

const LOGGED_MODEL_ID = /^m-[A-Za-z0-9]{1,64}$/;

/**
 * `models:/<name>/<version>`, `models:/<name>@<alias>`, `models:/<name>/<stage>` (case-insensitive),
 * `models:/<name>/latest`, `models:/<m-id>[/<path>]`, `runs:/<run_id>/<path>`; anything else is an artifact URI.
 */
export function parseModelUri(uri: string): ParsedModelUri {
  if (typeof uri !== 'string' || uri === '') throw invalidParameter('A model URI cannot be empty.');
  const runs = /^runs:\/+([^/]+)(?:\/(.*))?$/is.exec(uri);
  if (/^runs:/i.test(uri)) {
    if (!runs) throw invalidParameter(`Invalid runs URI '${uri}'. Expected 'runs:/<run_id>/<path>'.`);
    return { kind: 'run', runId: runs[1], path: trimSlashes(runs[2] ?? '') };
  }
  if (!/^models:/i.test(uri)) return { kind: 'artifact', uri };
  const path = trimSlashes(uri.replace(/^models:\/*/i, ''));
  const bad = (why: string): never => {
    throw invalidParameter(
      `Invalid model URI '${uri}' (${why}). Expected models:/<name>/<version>, models:/<name>/<stage>, ` +
        `models:/<name>/latest, models:/<name>@<alias> or models:/<model_id>.`,
    );
  };
  if (path === '') bad('no model name');
  const first = path.split('/')[0];
  if (LOGGED_MODEL_ID.test(first) && !first.includes('@') && path.split('/').length === 1) {
    return { kind: 'logged-model', modelId: first, path: '' };
  }
  const at = path.lastIndexOf('@');
  if (at !== -1) {
    const name = path.slice(0, at);
    const alias = path.slice(at + 1);
    if (!name || !alias || alias.includes('/')) bad('an alias needs models:/<name>@<alias>');
    return { kind: 'alias', name, alias };
  }
  const slash = path.lastIndexOf('/');
  if (slash === -1) bad('no version, stage, latest or alias');
  const name = path.slice(0, slash);
  const suffix = path.slice(slash + 1);
  if (/^\d+$/.test(suffix)) return { kind: 'version', name, version: String(Number(suffix)) };
  if (suffix.toLowerCase() === 'latest') return { kind: 'latest', name };
  const stage = STAGES.find((s) => s.toLowerCase() === suffix.toLowerCase());
  if (!stage) bad(`'${suffix}' is not a version, 'latest' or a stage (${STAGES.join(', ')})`);
  return { kind: 'stage', name, stage: stage! };
}

const trimSlashes = (s: string) => s.replace(/^\/+|\/+$/g, '');

/** `base` + `/path` (`path` may be empty). */
export const joinArtifactUri = (base: string, path: string): string => (path ? `${base.replace(/\/+$/, '')}/${trimSlashes(path)}` : base);
