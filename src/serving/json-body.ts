/**
 * JSON request bodies for scoring. Python's `json.dumps` (what MLflow clients send) writes NaN and
 * Infinity as bare tokens, which JSON.parse refuses; they are accepted here and become numbers, so the
 * signature check (not the parser) decides whether a NaN is allowed.
 */
import { FlywheelError } from '../core/index.js';

const NAN_TOKEN = /-?\b(?:NaN|Infinity)\b/;
const SENTINEL = '@@flywheel-nonfinite@@';

/** Rewrites bare NaN / Infinity / -Infinity tokens outside strings as sentinel strings. */
function quoteNonFinite(text: string): string {
  let out = '';
  let last = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 92 /* \ */) i++;
        else if (d === 34) break;
      }
      continue;
    }
    for (const token of ['-Infinity', 'Infinity', 'NaN']) {
      if (text.startsWith(token, i)) {
        out += `${text.slice(last, i)}"${SENTINEL}${token}"`;
        i += token.length - 1;
        last = i + 1;
        break;
      }
    }
  }
  return out + text.slice(last);
}

const revive = (_key: string, value: unknown) =>
  typeof value === 'string' && value.startsWith(SENTINEL) ? Number(value.slice(SENTINEL.length)) : value;

/** Parses a JSON body; malformed JSON is a 400 BAD_REQUEST that says where it broke. */
export function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (first) {
    if (NAN_TOKEN.test(text)) {
      try {
        return JSON.parse(quoteNonFinite(text), revive);
      } catch {
        // fall through to the original error
      }
    }
    throw new FlywheelError('BAD_REQUEST', `Malformed JSON in the request body: ${(first as Error).message}`);
  }
}
