import { invalidParameter } from '../core/index.js';
import { STAGES, type Stage } from './entities.js';

/** MLflow's registry input rules (§4.2–4.3 of the REST reference), with MLflow's messages. */
const MAX_ALIAS_LENGTH = 255;
const MAX_TAG_KEY = 250;
const MAX_TAG_VALUE = 5000;
const MAX_NAME_LENGTH = 256;
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * A registered model name: non-empty, no control characters, no `%` (so `my%20model` never sits beside
 * `my model`), and no `.`/`..` path segments (names appear in `models:/<name>/…` URIs).
 */
export function checkModelName(name: string, field = 'name'): string {
  if (typeof name !== 'string' || name === '') throw invalidParameter('Registered model name cannot be empty.');
  if (name.length > MAX_NAME_LENGTH) throw invalidParameter(`Registered model name exceeds the maximum length of ${MAX_NAME_LENGTH} characters.`);
  const shown = JSON.stringify(name.slice(0, 100));
  if (CONTROL.test(name)) throw invalidParameter(`Invalid value for '${field}': control characters are not allowed (${shown}).`);
  if (name.includes('%')) throw invalidParameter(`Invalid value for '${field}': '%' is not allowed in a model name (${shown}).`);
  if (name.split('/').some((s) => s === '.' || s === '..')) {
    throw invalidParameter(`Invalid value for '${field}': '.' and '..' path segments are not allowed (${shown}).`);
  }
  return name;
}

/** A model version number: an integer, given as a number or a decimal string. */
export function parseVersion(version: unknown): number {
  const text = typeof version === 'number' ? String(version) : version;
  if (typeof text === 'string' && /^-?\d{1,15}$/.test(text.trim())) return Number(text.trim());
  throw invalidParameter(`Model version must be an integer, got '${String(version)}'`);
}

export function checkAlias(alias: string): string {
  if (typeof alias !== 'string' || alias === '') throw invalidParameter('Registered model alias name cannot be empty.');
  if (!/^[\w-]*$/.test(alias)) {
    throw invalidParameter(`Invalid alias name: '${alias.slice(0, 300)}'. Names may only contain alphanumerics, underscores (_) and dashes (-).`);
  }
  if (alias.length > MAX_ALIAS_LENGTH) {
    throw invalidParameter(`Registered model alias name '${alias}' exceeds the maximum length of ${MAX_ALIAS_LENGTH} characters.`);
  }
  if (/^[vV]\d+$/.test(alias)) throw invalidParameter(`Version alias name '${alias}' is reserved.`);
  if (alias.toLowerCase() === 'latest') throw invalidParameter("'latest' alias name (case insensitive) is reserved.");
  return alias;
}

/** A stage name, case-insensitive, returned in canonical form. */
export function canonicalStage(stage: string): Stage {
  const found = STAGES.find((s) => s.toLowerCase() === String(stage).toLowerCase());
  if (!found) throw invalidParameter(`Invalid Model Version stage: ${stage}. Value must be one of ${STAGES.join(', ')}.`);
  return found;
}

export function checkTag(key: string, value: string): void {
  if (typeof key !== 'string' || key === '') throw invalidParameter('Tag key cannot be empty.');
  if (key.length > MAX_TAG_KEY) throw invalidParameter(`Tag key '${key.slice(0, 50)}…' had length ${key.length}, which exceeded length limit of ${MAX_TAG_KEY}`);
  if (CONTROL.test(key)) throw invalidParameter('Tag keys may not contain control characters.');
  if (typeof value !== 'string') throw invalidParameter(`Tag value for '${key}' must be a string.`);
  if (value.length > MAX_TAG_VALUE) {
    throw invalidParameter(`Tag value for '${key}' had length ${value.length}, which exceeded length limit of ${MAX_TAG_VALUE}`);
  }
}
