import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import * as parquet from 'parquet-wasm';
import { FlywheelError } from '../../core/errors.js';
import { MAX_PREVIEW_ROWS, type Materializer, type Visualization } from './types.js';

const PARQUET_FILE = 'table.parquet';

/** Arrow tables go to disk as one Parquet file; Arrow's schema rides along in the Parquet metadata. */
export function tableToParquet(table: Table): Uint8Array {
  let wasmTable: parquet.Table | undefined;
  try {
    wasmTable = parquet.Table.fromIPCStream(tableToIPC(table, 'stream'));
    return parquet.writeParquet(wasmTable);
  } catch (e) {
    throw new FlywheelError('INVALID_PARAMETER_VALUE', `Cannot write the Arrow table as Parquet: ${message(e)}`, { cause: e });
  }
}

export function parquetToTable(bytes: Uint8Array): Table {
  try {
    // intoIPCStream consumes (frees) the WebAssembly table.
    return tableFromIPC(parquet.readParquet(bytes).intoIPCStream());
  } catch (e) {
    throw new FlywheelError('DATA_LOSS', `Cannot read the stored Parquet file: ${message(e)}`, { cause: e });
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A preview cell the UI can show as JSON: bigints and binary become text, nested values plain JSON. */
function previewCell(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as unknown;
  }
  return value;
}

/** The first rows of a table, for the UI. */
export function tablePreview(table: Table, maxRows = MAX_PREVIEW_ROWS): Visualization {
  const columns = table.schema.fields.map((f) => f.name);
  const rows: unknown[][] = [];
  const n = Math.min(maxRows, table.numRows);
  for (let i = 0; i < n; i++) rows.push(columns.map((_c, j) => previewCell(table.getChildAt(j)?.get(i))));
  return { kind: 'table', columns, rows, totalRows: table.numRows };
}

export const arrowTableMaterializer: Materializer<Table> = {
  name: 'arrow-table',
  version: '1',
  type: 'table',
  canHandle: (value) => value instanceof Table,
  async save(value, dir) {
    await writeFile(join(dir, PARQUET_FILE), tableToParquet(value));
  },
  async load(dir) {
    return parquetToTable(await readFile(join(dir, PARQUET_FILE)));
  },
  async visualize(value) {
    return [tablePreview(value)];
  },
};
