/**
 * LIKE patterns, made to mean the same thing on both stores. `%` = any run of characters, `_` = exactly
 * one character, a backslash makes the next character literal (PostgreSQL's default escape, kept on SQLite
 * too); a trailing lone backslash is a literal backslash.
 *
 * SQLite's LIKE ignores ASCII case unless a PRAGMA says otherwise, so there a case-sensitive LIKE becomes a
 * GLOB (always case-sensitive, and still able to use an index for a literal prefix).
 */
type LikeToken = { literal: string } | 'any' | 'one';

function tokenize(pattern: string): LikeToken[] {
  const out: LikeToken[] = [];
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (c === '\\' && i + 1 < chars.length) out.push({ literal: chars[++i] });
    else if (c === '%') out.push('any');
    else if (c === '_') out.push('one');
    else out.push({ literal: c });
  }
  return out;
}

/** The pattern for PostgreSQL `LIKE`/`ILIKE … ESCAPE '\'`, normalised so it can never be malformed. */
export function postgresLikePattern(pattern: string): string {
  return tokenize(pattern)
    .map((t) => (t === 'any' ? '%' : t === 'one' ? '_' : /[%_\\]/.test(t.literal) ? `\\${t.literal}` : t.literal))
    .join('');
}

/** ASCII-only lower-casing, the same folding SQLite's `lower()` applies. */
export function lowerAscii(text: string): string {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** The equivalent SQLite GLOB pattern; with `fold`, literals are ASCII-lower-cased (compare with lower(col)). */
export function sqliteGlobPattern(pattern: string, fold = false): string {
  return tokenize(pattern)
    .map((t) => {
      if (t === 'any') return '*';
      if (t === 'one') return '?';
      const c = fold ? lowerAscii(t.literal) : t.literal;
      return c === '*' || c === '?' || c === '[' ? `[${c}]` : c;
    })
    .join('');
}
