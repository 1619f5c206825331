import { LIMITS } from '../core/index.js';
import type { Metric } from '../tracking/entities.js';

export interface MetricBufferOptions {
  /** Points per log-batch request (MLflow's limit is 1000). */
  maxBatch?: number;
  /** A buffered point waits at most this long before a background flush sends it. */
  flushIntervalMs?: number;
}

/**
 * Buffers metric points and sends them in ordered batches of at most 1000: when the buffer is full (the
 * caller then waits, which bounds memory), on a short timer, and on `flush()`. A background flush that fails
 * keeps its error until the next `add()` or `flush()` throws it: errors are reported late, never dropped.
 */
export class MetricBuffer {
  private pending: Metric[] = [];
  private chain: Promise<void> = Promise.resolve();
  private error: unknown;
  private timer: NodeJS.Timeout | undefined;
  private readonly maxBatch: number;
  private readonly flushIntervalMs: number;

  constructor(
    private readonly send: (metrics: Metric[]) => Promise<void>,
    options: MetricBufferOptions = {},
  ) {
    this.maxBatch = Math.min(options.maxBatch ?? LIMITS.batchMetrics, LIMITS.batchMetrics);
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
  }

  /** Points not yet acknowledged by a flush (for the exit warning). */
  get size(): number {
    return this.pending.length;
  }

  /** An error from a background flush that no call has reported yet. */
  get unreportedError(): unknown {
    return this.error;
  }

  async add(metrics: Metric[]): Promise<void> {
    this.rethrow();
    this.pending.push(...metrics);
    if (this.pending.length >= this.maxBatch) await this.flush();
    else this.timer ??= setTimeout(() => void this.drain(), this.flushIntervalMs);
  }

  /** Sends everything buffered, waits for it, and throws the first error of any flush since the last report. */
  async flush(): Promise<void> {
    await this.drain();
    this.rethrow();
  }

  /** Queues the buffered points behind earlier batches; never rejects (errors are kept for `flush`). */
  private drain(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const points = this.pending;
    this.pending = [];
    for (let i = 0; i < points.length; i += this.maxBatch) {
      const batch = points.slice(i, i + this.maxBatch);
      this.chain = this.chain.then(() =>
        this.send(batch).catch((e: unknown) => {
          this.error ??= e;
        }),
      );
    }
    return this.chain;
  }

  /** Throws (once) the error of a background flush that no call has reported yet. */
  rethrow(): void {
    if (this.error === undefined) return;
    const e = this.error;
    this.error = undefined;
    throw e;
  }
}
