import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { z } from 'zod';
import { invalidParameter } from '../../core/errors.js';
import { MAX_PREVIEW_ROWS, type Visualization } from './types.js';

/** Inline visualization payloads (base64 image data, HTML, markdown) are kept in the artifact's metadata: at most this much each. */
export const MAX_INLINE_VISUALIZATION_BYTES = 2 * 1024 * 1024;
/** Visualizations per artifact version, at most. */
export const MAX_VISUALIZATIONS = 20;
const MARKDOWN_FILE_CHARS = 20_000;

const IMAGE_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
};
export const IMAGE_MIME_TYPES = new Set(Object.values(IMAGE_TYPES));

/** The image type of a file name, or undefined. */
export function imageMimeOf(fileName: string): string | undefined {
  return IMAGE_TYPES[extname(fileName).toLowerCase()];
}

/** The image type of some bytes from their magic number (PNG, JPEG, GIF, WebP, SVG), or undefined. */
export function sniffImage(bytes: Uint8Array): string | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 512));
  if (b.length >= 8 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 6 && /^GIF8[79]a/.test(b.subarray(0, 6).toString('latin1'))) return 'image/gif';
  if (b.length >= 12 && b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  const head = b.toString('utf8').trimStart();
  if (/^(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*<svg[\s>]/i.test(head)) return 'image/svg+xml';
  return undefined;
}

/**
 * What a stored file can show by itself: an image, HTML (shown sandboxed), or a markdown file's text.
 * `rel` is its path in the materialized directory `dir`.
 */
export async function fileVisualization(dir: string, rel: string): Promise<Visualization | undefined> {
  const image = imageMimeOf(rel);
  if (image) return { kind: 'image', mimeType: image, path: rel, title: rel };
  const ext = extname(rel).toLowerCase();
  if (ext === '.html' || ext === '.htm') return { kind: 'html', path: rel, title: rel };
  if (ext === '.md' || ext === '.markdown') {
    const text = await readFile(join(dir, ...rel.split('/')), 'utf8');
    return { kind: 'markdown', markdown: text.length > MARKDOWN_FILE_CHARS ? `${text.slice(0, MARKDOWN_FILE_CHARS)}…` : text, title: rel };
  }
  return undefined;
}

/**
 * A visualization a user supplies (`withVisualizations`, `saveArtifact({ visualizations })`): as stored, or an
 * image given as bytes.
 */
export type VisualizationInput =
  | Visualization
  | { kind: 'image'; mimeType: string; data: Uint8Array | string; title?: string }
  | { kind: 'html'; html: string; title?: string };

const title = z.string().max(200).optional();
const relPath = z.string().min(1).max(1000);
/** The stored shape, checked wherever visualizations cross a boundary (user code, the upload endpoint). */
export const visualizationSchema = z.union([
  z.object({ kind: z.literal('table'), columns: z.array(z.string()).max(1000), rows: z.array(z.array(z.unknown())).max(MAX_PREVIEW_ROWS * 5), totalRows: z.number().int().nonnegative(), title }).strict(),
  z.object({ kind: z.literal('image'), mimeType: z.string().refine((m) => IMAGE_MIME_TYPES.has(m), 'an image type: png, jpeg, gif, webp or svg+xml'), path: relPath.optional(), data: z.string().optional(), title })
    .strict()
    .refine((v) => (v.path === undefined) !== (v.data === undefined), 'an image needs exactly one of path or data'),
  z.object({ kind: z.literal('html'), html: z.string().optional(), path: relPath.optional(), title })
    .strict()
    .refine((v) => (v.path === undefined) !== (v.html === undefined), 'html needs exactly one of path or html'),
  z.object({ kind: z.literal('markdown'), markdown: z.string(), title }).strict(),
]);
export const visualizationListSchema = z.array(visualizationSchema).max(MAX_VISUALIZATIONS);

/** Validates user visualizations and turns image bytes into base64; INVALID_PARAMETER_VALUE naming the problem. */
export function normalizeVisualizations(input: readonly VisualizationInput[] | undefined): Visualization[] {
  if (input === undefined) return [];
  if (!Array.isArray(input)) throw invalidParameter('visualizations must be an array');
  const prepared = input.map((v) => {
    if (v && typeof v === 'object' && v.kind === 'image' && typeof (v as { data?: unknown }).data === 'object') {
      const data = (v as { data: Uint8Array }).data;
      if (!(data instanceof Uint8Array)) return v;
      const mimeType = v.mimeType ?? sniffImage(data);
      return { ...v, mimeType, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64') };
    }
    return v;
  });
  const parsed = visualizationListSchema.safeParse(prepared);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalidParameter(`Invalid visualization at ${['visualizations', ...issue.path].join('.')}: ${issue.message}`);
  }
  for (const [i, v] of parsed.data.entries()) {
    const payload = v.kind === 'image' ? v.data : v.kind === 'html' ? v.html : v.kind === 'markdown' ? v.markdown : undefined;
    if (payload !== undefined && Buffer.byteLength(payload) > MAX_INLINE_VISUALIZATION_BYTES * (v.kind === 'image' ? 4 / 3 : 1) + 4) {
      throw invalidParameter(`visualizations[${i}] is larger than ${MAX_INLINE_VISUALIZATION_BYTES} bytes; store big content as the artifact itself`);
    }
  }
  return parsed.data as Visualization[];
}
