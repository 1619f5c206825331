/** Latency samples in milliseconds → percentiles, rounded to microseconds. */
export function percentile(samplesMs: number[], p: number): number {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return round(sorted[i]);
}

export const round = (x: number, digits = 3) => Number(x.toFixed(digits));

/** Runs `fn` `warmup` times untimed, then `samples` times timed; returns each timed call's milliseconds. */
export async function timeRepeated(fn: () => Promise<unknown>, samples: number, warmup: number): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return times;
}

/** One JSON line of results per case on stdout; everything else goes to stderr. */
export function report(result: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(result) + '\n');
}

export function progress(message: string): void {
  process.stderr.write(`  ${message}\n`);
}
