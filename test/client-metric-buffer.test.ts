import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MetricBuffer } from '../src/client/metric-buffer.js';
import type { Metric } from '../src/tracking/entities.js';

const point = (step: number): Metric => ({ key: 'm', value: step, timestamp: 1, step });

describe('MetricBuffer', () => {
  let batches: Metric[][];
  let fail: Error | undefined;
  const send = async (metrics: Metric[]) => {
    if (fail) throw fail;
    batches.push(metrics);
  };

  beforeEach(() => {
    vi.useFakeTimers();
    batches = [];
    fail = undefined;
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends batches of at most 1000 points, in order, when full', async () => {
    const buffer = new MetricBuffer(send);
    for (let i = 0; i < 2500; i++) await buffer.add([point(i)]);
    expect(batches.map((b) => b.length)).toEqual([1000, 1000]);
    await buffer.flush();
    expect(batches.map((b) => b.length)).toEqual([1000, 1000, 500]);
    expect(batches.flat().map((m) => m.step)).toEqual(Array.from({ length: 2500 }, (_, i) => i));
  });

  it('splits one large add into batches of at most 1000', async () => {
    const buffer = new MetricBuffer(send);
    await buffer.add(Array.from({ length: 2300 }, (_, i) => point(i)));
    await buffer.flush();
    expect(batches.map((b) => b.length)).toEqual([1000, 1000, 300]);
  });

  it('sends buffered points on its timer', async () => {
    const buffer = new MetricBuffer(send, { flushIntervalMs: 500 });
    await buffer.add([point(1)]);
    expect(batches).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(500);
    expect(batches).toEqual([[point(1)]]);
    expect(buffer.size).toBe(0);
  });

  it('keeps a background flush error for the next add, and reports it once', async () => {
    const buffer = new MetricBuffer(send, { flushIntervalMs: 500 });
    fail = new Error('server said no');
    await buffer.add([point(1)]);
    await vi.advanceTimersByTimeAsync(500);
    expect(buffer.unreportedError).toBe(fail);
    await expect(buffer.add([point(2)])).rejects.toBe(fail);
    expect(buffer.unreportedError).toBeUndefined();
    fail = undefined;
    await buffer.add([point(3)]);
    await buffer.flush();
    expect(batches).toEqual([[point(3)]]);
  });

  it('keeps a background flush error for the next flush', async () => {
    const buffer = new MetricBuffer(send, { flushIntervalMs: 500 });
    fail = new Error('down');
    await buffer.add([point(1)]);
    await vi.advanceTimersByTimeAsync(500);
    await expect(buffer.flush()).rejects.toThrow('down');
    await expect(buffer.flush()).resolves.toBeUndefined();
  });
});
