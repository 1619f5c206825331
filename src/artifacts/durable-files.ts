import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';

/** Uploads in progress are written to `<dir>/.flywheel-upload-<uuid>.tmp` and hidden from listings. */
export const TEMP_FILE = /^\.flywheel-upload-[0-9a-f-]{36}\.tmp$/;

/** A new temp file path in `dir` that listings hide (see TEMP_FILE). */
export function tempFilePath(dir: string): string {
  return join(dir, `.flywheel-upload-${randomUUID()}.tmp`);
}

export async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  let offset = 0;
  while (offset < buf.length) {
    const { bytesWritten } = await fh.write(buf, offset, buf.length - offset);
    offset += bytesWritten;
  }
}

/** fsync a directory so a rename in it is durable; not supported everywhere, so best effort. */
export async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, constants.O_RDONLY);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Some platforms cannot open or fsync directories; the file itself is already synced.
  }
}
