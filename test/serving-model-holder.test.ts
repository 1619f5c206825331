import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ModelHolder, ModelSource, ServingMetrics, type ModelIdentity, type ServingModel } from '../src/serving/index.js';

/** A registry whose alias the test moves, and models that only record whether they were closed. */
class FakeSource extends ModelSource {
  version = '1';
  down = false;
  constructor() {
    super('models:/m@live', {});
  }
  override async resolve() {
    if (this.down) throw new Error('connect ECONNREFUSED');
    return { name: 'm', version: this.version };
  }
  override async fetch() {
    return { dir: '/nowhere', cleanup: async () => undefined };
  }
}

function fakeModel(identity: ModelIdentity): ServingModel & { closed: boolean } {
  const model = { identity, closed: false, close: async () => void (model.closed = true) };
  return model as unknown as ServingModel & { closed: boolean };
}

describe('ModelHolder', () => {
  it('swaps atomically and closes the old model only after its last in-flight request', async () => {
    const source = new FakeSource();
    const loaded: (ServingModel & { closed: boolean })[] = [];
    const holder = await ModelHolder.open(source, async (_dir, id) => (loaded.push(fakeModel(id)), loaded.at(-1)!), new ServingMetrics(), pino({ level: 'silent' }));
    const inFlight = holder.acquire();
    expect(inFlight.model.identity.version).toBe('1');
    source.version = '2';
    expect(await holder.check()).toBe('swapped');
    expect(holder.current.identity.version).toBe('2');
    // The request that started on version 1 still holds it.
    expect(loaded[0].closed).toBe(false);
    holder.release(inFlight);
    await new Promise((r) => setImmediate(r));
    expect(loaded[0].closed).toBe(true);
    expect(loaded[1].closed).toBe(false);
    expect(await holder.check()).toBe('unchanged');
    source.down = true;
    expect(await holder.check()).toBe('failed');
    expect(holder.current.identity.version).toBe('2');
    await holder.close();
    expect(loaded[1].closed).toBe(true);
  });

  it('keeps the current model when the new version fails to load', async () => {
    const source = new FakeSource();
    let fail = false;
    const holder = await ModelHolder.open(source, async (_dir, id) => {
      if (fail) throw new Error('bad weights');
      return fakeModel(id);
    }, new ServingMetrics(), pino({ level: 'silent' }));
    fail = true;
    source.version = '5';
    expect(await holder.check()).toBe('failed');
    expect(holder.current.identity.version).toBe('1');
    fail = false;
    expect(await holder.check()).toBe('swapped');
    expect(holder.current.identity.version).toBe('5');
    await holder.close();
  });
});
