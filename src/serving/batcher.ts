/**
 * Dynamic batching: requests that arrive together are merged into one model call of at most
 * `maxBatchSize` rows, waiting at most `maxBatchWaitMs` for the batch to fill (0: merge only what has
 * already arrived by the next turn of the event loop). Results are split back per request. A batch that
 * fails is retried one request at a time, so one request the model chokes on never fails the others.
 */
export interface BatcherOptions {
  maxBatchSize: number;
  maxBatchWaitMs: number;
  /** Called with the rows of every model call (for the batch-size histogram). */
  onBatch?: (rows: number) => void;
}

interface Pending<I, O> {
  input: I;
  rows: number;
  resolve(value: O): void;
  reject(error: unknown): void;
}

export class Batcher<I, O> {
  private queue: Pending<I, O>[] = [];
  private queuedRows = 0;
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;

  constructor(
    private readonly run: (inputs: I[]) => Promise<O[]>,
    private readonly options: BatcherOptions,
  ) {}

  submit(input: I, rows: number): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      const { maxBatchSize } = this.options;
      if (this.queuedRows > 0 && this.queuedRows + rows > maxBatchSize) this.flush();
      this.queue.push({ input, rows, resolve, reject });
      this.queuedRows += rows;
      if (this.queuedRows >= maxBatchSize) this.flush();
      else if (!this.timer) {
        const wait = this.options.maxBatchWaitMs;
        this.timer = wait > 0 ? setTimeout(() => this.flush(), wait) : setImmediate(() => this.flush());
      }
    });
  }

  /** Requests waiting for their batch. */
  get pending(): number {
    return this.queue.length;
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
      this.timer = undefined;
    }
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    const rows = this.queuedRows;
    this.queuedRows = 0;
    void this.execute(batch, rows);
  }

  private async execute(batch: Pending<I, O>[], rows: number): Promise<void> {
    this.options.onBatch?.(rows);
    let results: O[];
    try {
      results = await this.run(batch.map((p) => p.input));
    } catch (e) {
      if (batch.length === 1) return batch[0].reject(e);
      // Find the culprit: each request on its own.
      await Promise.all(batch.map((p) => this.execute([p], p.rows)));
      return;
    }
    for (let i = 0; i < batch.length; i++) batch[i].resolve(results[i]);
  }
}
