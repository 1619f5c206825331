/** A small deterministic classification dataset: the same seed gives the same rows on every machine. */
export interface Dataset {
  columns: string[];
  /** One row of feature values per example. */
  features: number[][];
  /** 0 or 1 per example. */
  labels: number[];
}

/** mulberry32: a tiny seeded PRNG (Math.random cannot be seeded). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal values (Box-Muller) from a uniform source. */
function gaussian(random: () => number): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Rows with 4 features; the label follows a fixed linear rule plus noise, so a linear model does well but not perfectly. */
export function syntheticDataset(rows: number, seed: number, noise = 0.8): Dataset {
  const random = seededRandom(seed);
  const truth = [1.5, -2.0, 0.75, 0];
  const features: number[][] = [];
  const labels: number[] = [];
  for (let i = 0; i < rows; i++) {
    const x = truth.map(() => gaussian(random));
    const z = x.reduce((s, v, j) => s + v * truth[j], 0.25) + noise * gaussian(random);
    features.push(x.map((v) => Math.round(v * 1e6) / 1e6));
    labels.push(z > 0 ? 1 : 0);
  }
  return { columns: ['x1', 'x2', 'x3', 'x4'], features, labels };
}
