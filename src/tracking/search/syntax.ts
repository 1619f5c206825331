import { invalidParameter } from '../../core/errors.js';

/**
 * The surface syntax shared by every MLflow search filter (runs, experiments, logged models): clauses
 * `<identifier> <comparator> [<value>]` joined by AND, and order_by strings `<identifier> [ASC|DESC]`.
 * This module only reads text; which entities, keys, comparators and value types are allowed is decided
 * by the per-search validators. Positions in messages are 0-based character offsets into the input.
 */

/** Most clauses one filter may hold (SQLite caps expression depth; no real query needs more). */
export const MAX_CLAUSES = 100;

export interface RawIdentifier {
  /** The text before the first dot (backticks/quotes removed), absent when there is no dot. */
  entity?: string;
  key: string;
  /** The identifier as written. */
  raw: string;
  pos: number;
}

export type RawValue =
  | { kind: 'string'; value: string; raw: string; pos: number }
  | { kind: 'number'; value: number; raw: string; pos: number }
  | { kind: 'list'; items: string[]; raw: string; pos: number }
  | { kind: 'word'; raw: string; pos: number };

export interface RawClause {
  ident: RawIdentifier;
  /** Upper-cased, single-spaced: `=`, `LIKE`, `NOT IN`, `IS NOT NULL`, or an unsupported one like `==`. */
  op: string;
  opPos: number;
  /** Absent for `IS NULL` / `IS NOT NULL`. */
  value?: RawValue;
}

export interface RawOrderBy {
  ident: RawIdentifier;
  ascending: boolean;
}

const SYMBOL_OPS = ['!=', '<=', '>=', '==', '<>', '=', '<', '>'];
const NUMBER = /-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/y;
const WORD_CHAR = /^[\p{L}\p{N}\p{M}_]$/u;
const KEY_PUNCT = new Set(['-', '/', ':']);
const VALUE_STOP = new Set(["'", '"', '`', '(', ')', '=', '<', '>', '!', ',']);
const QUOTES = new Set(['`', '"']);

const isSpace = (c: string) => c !== '' && /^\s$/u.test(c);
const isWordChar = (c: string) => c !== '' && WORD_CHAR.test(c);

/** `'x'`, shortened so one message never echoes a megabyte of input back. */
export function quoteToken(text: string, max = 60): string {
  return `'${text.length > max ? `${text.slice(0, max)}…` : text}'`;
}

class Scanner {
  pos = 0;
  constructor(readonly src: string) {}

  get done(): boolean {
    return this.pos >= this.src.length;
  }

  /** The code point at the cursor (two UTF-16 units for astral characters), or '' at the end. */
  peek(): string {
    const cp = this.src.codePointAt(this.pos);
    return cp === undefined ? '' : String.fromCodePoint(cp);
  }

  next(): string {
    const c = this.peek();
    this.pos += c.length;
    return c;
  }

  skipSpace(): void {
    while (isSpace(this.peek())) this.next();
  }

  /** Letters, digits and underscores: keywords, ASC/DESC, AND. */
  readWord(): string {
    const start = this.pos;
    while (isWordChar(this.peek())) this.next();
    return this.src.slice(start, this.pos);
  }

  /** The token at `pos` for an error message: the run of non-space characters there. */
  tokenAt(pos = this.pos): string {
    const m = /^\S+/u.exec(this.src.slice(pos, pos + 200));
    return m ? m[0] : '';
  }

  describeHere(): string {
    return this.done ? 'the end of the filter' : quoteToken(this.tokenAt());
  }
}

function fail(message: string): never {
  throw invalidParameter(message);
}

function checkNul(text: string, what: string): void {
  const i = text.indexOf('\u0000');
  if (i >= 0) fail(`Invalid ${what}: NUL character at position ${i}`);
}

/** `` `quoted` `` or `"quoted"` identifier segment (no escapes inside). */
function readQuotedSegment(s: Scanner): string {
  const start = s.pos;
  const q = s.next();
  const end = s.src.indexOf(q, s.pos);
  if (end < 0) {
    const kind = q === '`' ? 'backtick' : 'double';
    fail(`Invalid identifier: unterminated ${kind}-quoted name starting at position ${start}`);
  }
  const text = s.src.slice(s.pos, end);
  s.pos = end + 1;
  if (text === '') fail(`Invalid identifier: empty quoted name at position ${start}`);
  return text;
}

function readBareSegment(s: Scanner, allowDots: boolean): string {
  const start = s.pos;
  for (;;) {
    const c = s.peek();
    if (isWordChar(c) || KEY_PUNCT.has(c) || (allowDots && c === '.')) s.next();
    else break;
  }
  return s.src.slice(start, s.pos);
}

/** `key`, `` `key` ``, `"key"`, `entity.key`, `entity.`quoted key``; the key after the dot may hold dots. */
function readIdentifier(s: Scanner): RawIdentifier {
  const pos = s.pos;
  const c = s.peek();
  if (c === '(' || c === ')') {
    fail(
      `Invalid clause(s) in filter string: '${c}' (at position ${pos}). Parentheses and OR are not supported; ` +
        `join clauses with AND.`,
    );
  }
  let first: string;
  if (QUOTES.has(c)) first = readQuotedSegment(s);
  else {
    first = readBareSegment(s, false);
    if (first === '') {
      fail(`Invalid comparison clause: expected an identifier at position ${pos}, found ${s.describeHere()}`);
    }
  }
  if (s.peek() !== '.') return { key: first, raw: s.src.slice(pos, s.pos), pos };
  s.next();
  const keyPos = s.pos;
  const key = QUOTES.has(s.peek()) ? readQuotedSegment(s) : readBareSegment(s, true);
  if (key === '') {
    fail(`Invalid identifier '${s.src.slice(pos, s.pos)}': expected a key after '.' at position ${keyPos}`);
  }
  return { entity: first, key, raw: s.src.slice(pos, s.pos), pos };
}

function readOperator(s: Scanner, ident: RawIdentifier): { op: string; opPos: number } {
  s.skipSpace();
  const opPos = s.pos;
  for (const sym of SYMBOL_OPS) {
    if (s.src.startsWith(sym, s.pos)) {
      s.pos += sym.length;
      return { op: sym, opPos };
    }
  }
  const expected = (found: string): never =>
    fail(
      `Invalid comparison clause: expected a comparator after ${quoteToken(ident.raw)} at position ${opPos}, ` +
        `found ${found}`,
    );
  const word = s.readWord().toUpperCase();
  if (word === 'LIKE' || word === 'ILIKE' || word === 'IN') return { op: word, opPos };
  const second = (): string => {
    s.skipSpace();
    return s.readWord().toUpperCase();
  };
  if (word === 'NOT') {
    const w = second();
    if (w === 'IN' || w === 'LIKE' || w === 'ILIKE') return { op: `NOT ${w}`, opPos };
    return expected(quoteToken(s.src.slice(opPos, s.pos)));
  }
  if (word === 'IS') {
    const w = second();
    if (w === 'NULL') return { op: 'IS NULL', opPos };
    if (w === 'NOT' && second() === 'NULL') return { op: 'IS NOT NULL', opPos };
    return expected(quoteToken(s.src.slice(opPos, s.pos)));
  }
  if (word !== '') return expected(quoteToken(s.src.slice(opPos, s.pos)));
  s.pos = opPos;
  return expected(s.describeHere());
}

/**
 * A quoted string. A doubled quote (`''` inside '…') or a backslash-escaped quote stands for the quote;
 * every other backslash is kept as written (so LIKE patterns can escape `%` and `_` with it).
 */
function readString(s: Scanner): { value: string; raw: string; pos: number } {
  const pos = s.pos;
  const q = s.next();
  let out = '';
  for (;;) {
    if (s.done) fail(`Invalid string value: unterminated quoted string starting at position ${pos}`);
    const c = s.src[s.pos];
    if (c === q) {
      if (s.src[s.pos + 1] === q) {
        out += q;
        s.pos += 2;
        continue;
      }
      s.pos++;
      break;
    }
    if (c === '\\' && (s.src[s.pos + 1] === q || s.src[s.pos + 1] === '\\')) {
      out += s.src[s.pos + 1] === q ? q : '\\\\';
      s.pos += 2;
      continue;
    }
    out += c;
    s.pos++;
  }
  return { value: out, raw: s.src.slice(pos, s.pos), pos };
}

const LIST_ERROR = 'While parsing a list in the query, expected';

/** `('a', "b", …)`: quoted strings only, a trailing comma allowed, never empty. */
function readList(s: Scanner): RawValue {
  const pos = s.pos;
  s.next();
  const items: string[] = [];
  const unclosed = () => `While parsing a list in the query, the list starting at position ${pos} is not closed`;
  for (;;) {
    s.skipSpace();
    const c = s.peek();
    if (c === ')' && items.length > 0) {
      s.next();
      break;
    }
    if (c === "'" || c === '"') items.push(readString(s).value);
    else if (c === ')') fail(`${LIST_ERROR} a non-empty list of string values, but got empty list at position ${pos}`);
    else if (c === '') fail(unclosed());
    else fail(`${LIST_ERROR} a quoted string value at position ${s.pos}, found ${s.describeHere()}`);
    s.skipSpace();
    const sep = s.peek();
    if (sep === ',') s.next();
    else if (sep === ')') {
      s.next();
      break;
    } else if (sep === '') fail(unclosed());
    else fail(`${LIST_ERROR} ',' or ')' at position ${s.pos}, found ${s.describeHere()}`);
  }
  return { kind: 'list', items, raw: s.src.slice(pos, s.pos), pos };
}

function readValue(s: Scanner, op: string): RawValue {
  s.skipSpace();
  const pos = s.pos;
  const c = s.peek();
  if (c === "'" || c === '"') return { kind: 'string', ...readString(s) };
  if (c === '(') return readList(s);
  NUMBER.lastIndex = pos;
  const m = NUMBER.exec(s.src);
  if (m) {
    const after = s.src.codePointAt(pos + m[0].length);
    const follower = after === undefined ? '' : String.fromCodePoint(after);
    if (!isWordChar(follower) && follower !== '.') {
      s.pos = pos + m[0].length;
      return { kind: 'number', value: Number(m[0]), raw: m[0], pos };
    }
  }
  while (!s.done && !isSpace(s.peek()) && !VALUE_STOP.has(s.peek())) s.next();
  if (s.pos === pos) {
    fail(`Invalid comparison clause: expected a value after '${op}' at position ${pos}, found ${s.describeHere()}`);
  }
  return { kind: 'word', raw: s.src.slice(pos, s.pos), pos };
}

function readClause(s: Scanner): RawClause {
  const ident = readIdentifier(s);
  const { op, opPos } = readOperator(s, ident);
  if (op === 'IS NULL' || op === 'IS NOT NULL') return { ident, op, opPos };
  return { ident, op, opPos, value: readValue(s, op) };
}

/** Splits a filter into clauses. An empty or blank filter has none. */
export function parseRawClauses(filter: string): RawClause[] {
  if (typeof filter !== 'string') fail(`Invalid filter: expected a string, got ${typeof filter}`);
  checkNul(filter, 'filter');
  const s = new Scanner(filter);
  const clauses: RawClause[] = [];
  s.skipSpace();
  while (!s.done) {
    clauses.push(readClause(s));
    if (clauses.length > MAX_CLAUSES) fail(`Invalid filter: more than ${MAX_CLAUSES} clauses`);
    s.skipSpace();
    if (s.done) break;
    const at = s.pos;
    const word = s.readWord();
    if (word.toUpperCase() !== 'AND') {
      fail(`Invalid clause(s) in filter string: ${quoteToken(s.tokenAt(at))} (at position ${at})`);
    }
    s.skipSpace();
    if (s.done) fail(`Invalid filter: expected a clause after 'AND' at position ${at}`);
  }
  return clauses;
}

/** One order_by string: `<identifier> [ASC|DESC]` (case-insensitive direction, default ASC). */
export function parseRawOrderBy(text: string): RawOrderBy {
  if (typeof text !== 'string') fail(`Invalid order_by clause: expected a string, got ${typeof text}`);
  checkNul(text, 'order_by clause');
  const unparsable = () => fail(`Invalid order_by clause ${quoteToken(text, 200)}. Could not be parsed.`);
  const s = new Scanner(text);
  s.skipSpace();
  if (s.done) unparsable();
  const c = s.peek();
  if (!QUOTES.has(c) && !isWordChar(c) && !KEY_PUNCT.has(c)) unparsable();
  const ident = readIdentifier(s);
  s.skipSpace();
  let ascending = true;
  if (!s.done) {
    const word = s.readWord();
    if (word === '') unparsable();
    const dir = word.toLowerCase();
    if (dir !== 'asc' && dir !== 'desc') fail(`Invalid ordering key in order_by clause ${quoteToken(text, 200)}.`);
    ascending = dir === 'asc';
    s.skipSpace();
    if (!s.done) unparsable();
  }
  return { ident, ascending };
}
