import { encodeDouble } from '../server/mlflow-json.js';

/** Where a command writes; tests pass their own to read what a command printed. */
export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
}

export const processIO: CliIO = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** A failure the command has explained already (or wants shown as is, without a stack): exit with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
    readonly reported = false,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** JSON as MLflow writes it: NaN and ±Infinity as the strings "NaN", "Infinity", "-Infinity". */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? encodeDouble(v) : v), 2)}\n`;
}

/** A plain text table: a header row, then rows, columns padded to their widest cell. */
export function toTable(headers: string[], rows: (string | number | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === undefined ? '' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()).join('\n') + '\n';
}

/** `2025-01-31 12:00:00` (UTC) from epoch milliseconds; '' when unset. */
export function formatTime(ms: number | undefined): string {
  return ms === undefined || ms === null ? '' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

/** `key: value` lines, for one entity. */
export function toFields(fields: [string, string | number | undefined][]): string {
  const width = Math.max(...fields.map(([k]) => k.length));
  return fields.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${v ?? ''}`.trimEnd()).join('\n') + '\n';
}
