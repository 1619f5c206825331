/** `text/csv` scoring bodies (pandas `to_csv` output): a header row, then one row per record. */
import { FlywheelError } from '../core/index.js';

/** RFC 4180 fields: commas, quoted fields with "" escapes, CRLF or LF line ends. */
export function parseCsv(text: string): { columns: string[]; rows: string[][] } {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  let i = 0;
  const endField = () => {
    record.push(field);
    field = '';
  };
  const endRecord = () => {
    endField();
    if (!(record.length === 1 && record[0] === '')) records.push(record);
    record = [];
  };
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') (field += '"'), (i += 2);
        else (quoted = false), i++;
      } else (field += c), i++;
      continue;
    }
    if (c === '"' && field === '') (quoted = true), i++;
    else if (c === ',') endField(), i++;
    else if (c === '\n') endRecord(), i++;
    else if (c === '\r' && text[i + 1] === '\n') endRecord(), (i += 2);
    else (field += c), i++;
  }
  if (quoted) throw new FlywheelError('BAD_REQUEST', 'Malformed CSV: a quoted field is not closed');
  if (field !== '' || record.length > 0) endRecord();
  if (records.length === 0) throw new FlywheelError('BAD_REQUEST', 'The CSV body is empty: send a header row and data rows');
  const [columns, ...rows] = records;
  for (const [r, row] of rows.entries()) {
    if (row.length !== columns.length) {
      throw new FlywheelError('BAD_REQUEST', `CSV row ${r} has ${row.length} fields for ${columns.length} columns`);
    }
  }
  return { columns, rows };
}
