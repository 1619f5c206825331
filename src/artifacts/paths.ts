import { lstat, realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { invalidParameter } from '../core/errors.js';

/** Longest artifact path accepted (characters), and longest single path segment (UTF-8 bytes, the usual NAME_MAX). */
export const MAX_ARTIFACT_PATH_LENGTH = 4096;
export const MAX_ARTIFACT_SEGMENT_BYTES = 255;

/** A URI scheme (`file:`, `s3:`) or a drive letter (`C:`) at the start of a path. */
const SCHEME_PREFIX = /^[A-Za-z][A-Za-z0-9+.-]*:/;
/** A percent-escape (`%2e`, `%2F`, `%00`) still present after the one decode done at the HTTP edge. */
const PERCENT_ESCAPE = /%[0-9A-Fa-f]{2}/;
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
const CONTROL_CHARS_GLOBAL = /[\u0000-\u001f\u007f]/g;
/** A segment made only of dots and spaces (`...`, `.. `): `..` on some filesystems after trimming. */
const DOTS_AND_SPACES = /^[. ]+$/;

function refuse(raw: string, why: string): never {
  const shown = raw.length > 200 ? `${raw.slice(0, 200)}…` : raw;
  throw invalidParameter(`Invalid path: '${shown.replace(CONTROL_CHARS_GLOBAL, '?')}' (${why})`);
}

/**
 * The one check for an artifact path chosen by a client. `raw` is the path decoded exactly once (at the HTTP
 * edge: the URL path or query value); nothing decodes it again. Returns the normalised relative path
 * (`a/b`, '' for the root), with empty and `.` segments dropped and no leading or trailing slash.
 *
 * Refused (INVALID_PARAMETER_VALUE): `..` segments and segments of only dots and spaces; absolute paths
 * (`/x`); a scheme or drive-letter prefix (`file://x`, `C:/`, `C:x`); backslashes; NUL and other control
 * characters; `?`, `#` and `;`; over-long paths or segments; and any percent-escape (`%` followed by two hex
 * digits) left after the one decode. That last rule is deliberate: a path whose decoded form still holds
 * `%2e%2e%2f` was double-encoded (`%252e%252e%252f`), and a path that is safe only while nobody decodes it a
 * second time is not safe. The cost is that a file literally named `a%20b` cannot be stored; `100%.txt` can.
 */
export function safeRelativePath(raw: string): string {
  if (typeof raw !== 'string') throw invalidParameter('Invalid path: expected a string');
  if (raw.length > MAX_ARTIFACT_PATH_LENGTH) refuse(raw, `longer than ${MAX_ARTIFACT_PATH_LENGTH} characters`);
  if (CONTROL_CHARS.test(raw)) refuse(raw, 'control characters or NUL bytes are not allowed');
  if (raw.includes('\\')) refuse(raw, 'backslashes are not allowed');
  if (/[?#;]/.test(raw)) refuse(raw, "'?', '#' and ';' are not allowed");
  if (PERCENT_ESCAPE.test(raw)) refuse(raw, 'percent-encoded sequences are not allowed after decoding');
  if (raw.startsWith('/')) refuse(raw, 'absolute paths are not allowed');
  if (SCHEME_PREFIX.test(raw)) refuse(raw, 'URI schemes and drive letters are not allowed');
  const out: string[] = [];
  for (const segment of raw.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..' || DOTS_AND_SPACES.test(segment)) refuse(raw, "'..' segments are not allowed");
    if (Buffer.byteLength(segment) > MAX_ARTIFACT_SEGMENT_BYTES) {
      refuse(raw, `a path segment is longer than ${MAX_ARTIFACT_SEGMENT_BYTES} bytes`);
    }
    out.push(segment);
  }
  return out.join('/');
}

/** Joins normalised relative paths (`''` is the root). */
export function joinRelative(...parts: string[]): string {
  return parts.filter((p) => p !== '').join('/');
}

/** True when `p` is `root` or lies under it (both absolute and normalised). */
export function isInside(root: string, p: string): boolean {
  if (p === root) return true;
  const rel = relative(root, p);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

export interface ContainedPathOptions {
  /**
   * Resolve a symbolic link in the last segment (read, list). When false (write, delete) the last segment is
   * returned as named, so a rename or delete acts on the link itself; a link pointing outside is still refused.
   */
  resolveLast?: boolean;
}

/**
 * The absolute path of `rel` under `root`, asserting containment of the *resolved* path: every existing
 * segment is checked with lstat, and a symbolic link anywhere on the way whose target lies outside the
 * (real) root is refused with INVALID_PARAMETER_VALUE, as is a `rel` that safeRelativePath refuses. Segments
 * that do not exist yet are appended as named (they will be created as plain directories and files).
 *
 * Remaining race: a directory swapped for a symlink between this check and the filesystem call. The
 * repository narrows it (O_NOFOLLOW on open, a re-check after mkdir) but only a process that alone controls
 * the root closes it.
 */
export async function containedPath(root: string, rel: string, opts: ContainedPathOptions = {}): Promise<string> {
  const safe = safeRelativePath(rel);
  const realRoot = await realpath(resolve(root));
  const segments = safe === '' ? [] : safe.split('/');
  let current = realRoot;
  for (let i = 0; i < segments.length; i++) {
    const next = join(current, segments[i]);
    const last = i === segments.length - 1;
    let st;
    try {
      st = await lstat(next);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return join(next, ...segments.slice(i + 1));
      throw e;
    }
    if (!st.isSymbolicLink()) {
      current = next;
      continue;
    }
    let target: string;
    try {
      target = await realpath(next);
    } catch {
      // A dangling or looping link: never follow it; only the link itself may be replaced or removed.
      if (last && !opts.resolveLast) return next;
      throw invalidParameter(`Invalid path: '${safe}' (passes through a broken symbolic link)`);
    }
    if (!isInside(realRoot, target)) {
      throw invalidParameter(`Invalid path: '${safe}' (a symbolic link points outside the artifact root)`);
    }
    current = last && !opts.resolveLast ? next : target;
  }
  return current;
}
