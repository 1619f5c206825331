import { step } from 'flywheel';
import { seededRandom, type Dataset } from '../data.js';

/** A seeded shuffle, then the first `testFraction` of the rows for testing and the rest for training. */
export const split = step(
  'split',
  (inputs: { data: Dataset }, ctx) => {
    const { data } = inputs;
    const order = data.labels.map((_, i) => i);
    const random = seededRandom(ctx.params.seed);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    const nTest = Math.round(order.length * ctx.params.testFraction);
    const pick = (idx: number[]): Dataset => ({
      columns: data.columns,
      features: idx.map((i) => data.features[i]),
      labels: idx.map((i) => data.labels[i]),
    });
    return { train: pick(order.slice(nTest)), test: pick(order.slice(0, nTest)) };
  },
  { outputs: ['train', 'test'], params: { testFraction: 0.25, seed: 7 } },
);
