/**
 * Content types for artifact downloads. Follows MLflow's `_guess_mime_type`: text-like files (including
 * `MLmodel`, JSON, YAML, XML, JS, Python) are `text/plain`, so a browser never runs them; a few binary
 * types keep their type so the UI can show images; everything else is `application/octet-stream`.
 *
 * HTML (and XHTML, MHTML) is never served as `text/html`: it goes out as `application/octet-stream`. SVG
 * keeps `image/svg+xml` so `<img>` can show it (scripts do not run in images); like every artifact it is
 * sent as an attachment with `Content-Security-Policy: sandbox` and `nosniff`, so opening it directly runs
 * nothing on the server's origin.
 */
const TEXT_EXTENSIONS = new Set([
  'txt', 'log', 'err', 'cfg', 'conf', 'cnf', 'cf', 'ini', 'properties', 'prop', 'hocon', 'toml', 'yaml', 'yml',
  'xml', 'json', 'jsonl', 'js', 'mjs', 'ts', 'py', 'py3', 'r', 'sql', 'sh', 'csv', 'tsv', 'md', 'rst',
  'mlmodel', 'mlproject', 'requirements', 'lock',
]);

const TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  bmp: 'image/bmp',
  ico: 'image/vnd.microsoft.icon',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  svg: 'image/svg+xml',
  pdf: 'application/pdf',
  zip: 'application/zip',
  gz: 'application/gzip',
  tgz: 'application/gzip',
  tar: 'application/x-tar',
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
  ogg: 'audio/ogg',
  mp4: 'video/mp4',
  webm: 'video/webm',
  // Active documents: never rendered from the server's origin.
  html: 'application/octet-stream',
  htm: 'application/octet-stream',
  xhtml: 'application/octet-stream',
  shtml: 'application/octet-stream',
  mht: 'application/octet-stream',
  mhtml: 'application/octet-stream',
};

export const TEXT_PLAIN = 'text/plain; charset=utf-8';
export const OCTET_STREAM = 'application/octet-stream';

/** The content type to serve an artifact with, from its file name. */
export function artifactContentType(fileName: string): string {
  const base = fileName.slice(fileName.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  // Files without an extension (MLmodel, MLproject) are looked up by name, as MLflow does.
  const ext = (dot <= 0 ? base : base.slice(dot + 1)).toLowerCase();
  if (TEXT_EXTENSIONS.has(ext)) return TEXT_PLAIN;
  return TYPES[ext] ?? OCTET_STREAM;
}

/** `attachment; filename="…"; filename*=UTF-8''…` with the name made safe for a header. */
export function contentDisposition(fileName: string): string {
  const base = fileName.slice(fileName.lastIndexOf('/') + 1) || 'artifact';
  const ascii = base.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const encoded = encodeURIComponent(base).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
