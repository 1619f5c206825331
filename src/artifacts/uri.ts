import { realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { invalidParameter } from '../core/errors.js';
import { isInside, safeRelativePath } from './paths.js';

/** What a client-supplied artifact URI points at. `uri` is the normalised form to store. */
export type ArtifactUriClass =
  /** `mlflow-artifacts:/<path>`: proxied through this server; `path` is relative to the artifact root. */
  | { kind: 'proxy'; path: string; authority?: string; uri: string }
  /** `file:` URI or absolute path inside the artifact root; `path` absolute, `rel` relative to the root. */
  | { kind: 'local'; path: string; rel: string; uri: string }
  /** An object store the client talks to directly (`s3://bucket/prefix`); the server never fetches it. */
  | { kind: 'remote'; scheme: string; uri: string };

export interface ClassifyOptions {
  /** The artifact root directory; without it every local (`file:`, plain path) URI is refused. */
  root?: string;
  /** Object-store schemes accepted as `remote` (default s3, gs, wasbs, abfss). */
  remoteSchemes?: readonly string[];
}

export const DEFAULT_REMOTE_SCHEMES: readonly string[] = ['s3', 'gs', 'wasbs', 'abfss'];

const MAX_URI_LENGTH = 8192;
const MAX_DECODE_ROUNDS = 4;
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s;
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
/** host, host:port, [v6]:port, or empty. */
const PROXY_AUTHORITY = /^(?:(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?)?$/;
/** bucket, container@account.host */
const BUCKET_AUTHORITY = /^[A-Za-z0-9][A-Za-z0-9._-]*(?:@[A-Za-z0-9][A-Za-z0-9.-]*)?$/;

function refuse(uri: string, why: string): never {
  const shown = (uri.length > 200 ? `${uri.slice(0, 200)}…` : uri).replace(/[\u0000-\u001f\u007f]/g, '?');
  throw invalidParameter(`Invalid artifact URI '${shown}': ${why}`);
}

/**
 * The one classifier for artifact URIs chosen by clients (experiment `artifact_location`, model sources).
 * Checks run on the raw string and on every percent-decoded form of it (decoded until it stops changing, so
 * `%2e%2e` and `%252e%252e` are both seen as `..`): no `#`, `?`, `;`, backslash, NUL or control character,
 * no `.`/`..` segment. Then by scheme:
 *
 * - `mlflow-artifacts:/p`, `mlflow-artifacts://host:port/p` → proxy (path checked by safeRelativePath after
 *   one decode, as the proxy endpoint will see it);
 * - `file:///abs`, `file://localhost/abs`, `file:/abs` and absolute plain paths → local, only inside `root`
 *   (lexically and through existing symlinks); `file://<other host>/…` (`file://etc/passwd`) is refused;
 * - `s3://bucket/p` and the other `remoteSchemes` → remote;
 * - everything else is refused: `http(s)://` (the server would be pointed at other servers), `runs:/`,
 *   `models:/`, unknown schemes (`dbfs:/`), drive letters, relative paths, `//host/…` network paths.
 */
export function classifyArtifactUri(uri: string, opts: ClassifyOptions = {}): ArtifactUriClass {
  if (typeof uri !== 'string' || uri === '') throw invalidParameter('Invalid artifact URI: an empty value');
  if (uri.length > MAX_URI_LENGTH) refuse(uri, `longer than ${MAX_URI_LENGTH} characters`);
  for (const form of decodedForms(uri)) checkForm(uri, form);

  const m = SCHEME.exec(uri);
  if (!m) return classifyLocal(uri, uri, opts);
  const scheme = m[1].toLowerCase();
  const rest = m[2];
  if (scheme.length === 1) refuse(uri, 'Windows drive paths are not accepted');
  if (scheme === 'mlflow-artifacts') return classifyProxy(uri, rest);
  if (scheme === 'file') return classifyFile(uri, rest, opts);
  if ((opts.remoteSchemes ?? DEFAULT_REMOTE_SCHEMES).includes(scheme)) return classifyRemote(uri, scheme, rest);
  if (scheme === 'http' || scheme === 'https') {
    refuse(uri, 'http(s) URLs are not accepted (the server would be pointed at another server)');
  }
  if (scheme === 'runs' || scheme === 'models') refuse(uri, `'${scheme}:/' URIs are not artifact locations`);
  refuse(uri, `the scheme '${scheme}:' is not supported`);
}

/** The raw string and each successive percent-decoding of it, until it stops changing. */
function decodedForms(uri: string): string[] {
  const forms = [uri];
  let current = uri;
  for (let i = 0; i < MAX_DECODE_ROUNDS; i++) {
    let next: string;
    try {
      next = decodeURIComponent(current);
    } catch {
      refuse(uri, 'malformed percent-encoding');
    }
    if (next === current) return forms;
    forms.push(next);
    current = next;
  }
  refuse(uri, 'too many levels of percent-encoding');
}

function checkForm(uri: string, form: string): void {
  if (CONTROL_CHARS.test(form)) refuse(uri, 'control characters or NUL bytes are not allowed');
  if (form.includes('\\')) refuse(uri, 'backslashes are not allowed');
  if (form.includes('#')) refuse(uri, 'fragments (#) are not allowed');
  if (form.includes('?')) refuse(uri, 'queries (?) are not allowed');
  if (form.includes(';')) refuse(uri, 'parameters (;) are not allowed');
  for (const segment of form.split('/')) {
    if (segment !== '' && /^[. ]+$/.test(segment)) refuse(uri, "'.' and '..' path segments are not allowed");
  }
}

function classifyProxy(uri: string, rest: string): ArtifactUriClass {
  let authority: string | undefined;
  let path = rest;
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    authority = slash === -1 ? rest.slice(2) : rest.slice(2, slash);
    path = slash === -1 ? '' : rest.slice(slash);
    if (!PROXY_AUTHORITY.test(authority)) refuse(uri, 'the host is not a valid host[:port]');
  } else if (!rest.startsWith('/')) {
    refuse(uri, "expected 'mlflow-artifacts:/<path>'");
  }
  const rawPath = path.replace(/^\/+/, '').replace(/\/{2,}/g, '/').replace(/\/+$/, '');
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    refuse(uri, 'malformed percent-encoding');
  }
  const rel = safeRelativePath(decoded);
  const prefix = authority ? `mlflow-artifacts://${authority}/` : 'mlflow-artifacts:/';
  return { kind: 'proxy', path: rel, ...(authority ? { authority } : {}), uri: prefix + rawPath };
}

function classifyFile(uri: string, rest: string, opts: ClassifyOptions): ArtifactUriClass {
  let path = rest;
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    const host = slash === -1 ? rest.slice(2) : rest.slice(2, slash);
    if (host !== '' && host.toLowerCase() !== 'localhost') {
      refuse(uri, `file URIs may not name a host ('${host}'); use file:///absolute/path`);
    }
    path = slash === -1 ? '' : rest.slice(slash);
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    refuse(uri, 'malformed percent-encoding');
  }
  return classifyLocal(uri, decoded, opts);
}

function classifyLocal(uri: string, path: string, opts: ClassifyOptions): ArtifactUriClass {
  if (!path.startsWith('/')) refuse(uri, 'relative paths are not accepted; use an absolute path inside the artifact root');
  if (path.startsWith('//')) refuse(uri, "network paths ('//host/…') are not accepted");
  if (!opts.root) refuse(uri, 'local paths are not accepted here');
  const root = resolve(opts.root);
  const abs = resolve(path);
  if (!isInside(root, abs)) refuse(uri, 'the path is outside the artifact root');
  const realRoot = realpathOrSelf(root);
  const real = realpathOfExisting(abs);
  if (real !== undefined && !isInside(realRoot, real)) refuse(uri, 'the path leaves the artifact root through a symbolic link');
  const rel = abs === root ? '' : abs.slice(root.length + (root.endsWith('/') ? 0 : 1));
  return { kind: 'local', path: abs, rel: safeRelativePath(rel), uri: pathToFileURL(abs).href };
}

function classifyRemote(uri: string, scheme: string, rest: string): ArtifactUriClass {
  if (!rest.startsWith('//')) refuse(uri, `expected '${scheme}://<bucket>/<path>'`);
  const slash = rest.indexOf('/', 2);
  const authority = slash === -1 ? rest.slice(2) : rest.slice(2, slash);
  if (!BUCKET_AUTHORITY.test(authority)) refuse(uri, 'the bucket name is not valid');
  return { kind: 'remote', scheme, uri: uri.replace(/\/+$/, '') };
}

function realpathOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/** realpath of the deepest existing ancestor of `p`, with the missing tail appended; undefined if none exists. */
function realpathOfExisting(p: string): string | undefined {
  let current = p;
  const tail: string[] = [];
  for (;;) {
    try {
      return resolve(realpathSync(current), ...tail);
    } catch {
      const parent = dirname(current);
      if (parent === current) return undefined;
      tail.unshift(current.slice(parent.length).replace(/^\//, ''));
      current = parent;
    }
  }
}
