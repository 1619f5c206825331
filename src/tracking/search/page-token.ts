import { invalidParameter } from '../../core/errors.js';

/**
 * Page tokens are opaque to clients. Like MLflow, they are base64 of JSON `{"offset": N}` (MLflow's own
 * tokens, e.g. `eyJvZmZzZXQiOiAxfQ==`, are read as well).
 */
export function encodePageToken(offset: number): string {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`Invalid page offset ${offset}`);
  return Buffer.from(JSON.stringify({ offset }), 'utf8').toString('base64');
}

/** The offset a page token stands for; no token (or an empty one) = 0. Malformed → INVALID_PARAMETER_VALUE. */
export function decodePageToken(token: string | undefined | null): number {
  if (token === undefined || token === null || token === '') return 0;
  const bad = (why: string) => invalidParameter(`Invalid page token '${String(token).slice(0, 100)}': ${why}`);
  if (typeof token !== 'string') throw bad('expected a string');
  if (token.length > 1000 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(token)) throw bad('could not base64-decode');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8'));
  } catch {
    throw bad('not a token issued by this server');
  }
  const offset = parsed !== null && typeof parsed === 'object' ? (parsed as { offset?: unknown }).offset : undefined;
  const n = typeof offset === 'string' && /^\d+$/.test(offset) ? Number(offset) : offset;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw bad('not a token issued by this server');
  return n;
}
