/** Values larger than this are not kept (they would crowd out many small ones). */
const MAX_ENTRY_BYTES = 1 << 20;
const DEFAULT_MAX_BYTES = 64 << 20;

/**
 * The stored bytes of recently saved or loaded small artifacts, by content hash, least recently used
 * evicted first. Bytes enter only after being hashed to their key (on save, from the bytes written; on load,
 * after the file read was checked against its hash), so a hit is as good as a verified read: a consumer
 * step gets its input without re-reading the file its producer just wrote. Whether the stored copy still
 * exists is the cache check's concern (`ContentAddressedStore.verify`), which never consults this.
 */
export class SmallValueCache {
  readonly #entries = new Map<string, Buffer>();
  #bytes = 0;

  constructor(readonly maxBytes = DEFAULT_MAX_BYTES) {}

  get(hash: string): Buffer | undefined {
    const bytes = this.#entries.get(hash);
    if (bytes) {
      this.#entries.delete(hash);
      this.#entries.set(hash, bytes);
    }
    return bytes;
  }

  /** Keeps `bytes` (not copied: the caller hands them over and must not change them). */
  set(hash: string, bytes: Buffer): void {
    if (bytes.length > MAX_ENTRY_BYTES || bytes.length > this.maxBytes) return;
    const old = this.#entries.get(hash);
    if (old) {
      this.#entries.delete(hash);
      this.#bytes -= old.length;
    }
    this.#entries.set(hash, bytes);
    this.#bytes += bytes.length;
    for (const [key, value] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#entries.delete(key);
      this.#bytes -= value.length;
    }
  }
}
