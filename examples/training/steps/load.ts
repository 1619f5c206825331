import { step } from 'flywheel';
import { syntheticDataset, type Dataset } from '../data.js';

/** Generates the raw data (stand-in for reading a file or a table): the root of the lineage. */
export const load = step(
  'load',
  (_inputs: {}, ctx): Dataset => {
    const data = syntheticDataset(ctx.params.rows, ctx.params.seed);
    ctx.log(`generated ${data.labels.length} rows, ${data.labels.filter((l) => l === 1).length} positive`);
    return data;
  },
  { params: { rows: 800, seed: 42 } },
);
