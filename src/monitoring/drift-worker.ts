/** Worker-thread entry of `DriftWorkerPool`: computes the drift of the features it is sent. */
import { parentPort } from 'node:worker_threads';
import { driftFeatures, type DriftOptions, type DriftReference, type FeatureDrift } from './drift.js';
import type { Columns } from './columns.js';

export interface DriftTask {
  id: number;
  reference: DriftReference;
  current: Columns;
  names: string[];
  options: DriftOptions;
  currentRows: number;
}

export type DriftTaskResult = { id: number; features: FeatureDrift[] } | { id: number; error: string };

parentPort?.on('message', (task: DriftTask) => {
  let result: DriftTaskResult;
  try {
    result = { id: task.id, features: driftFeatures(task.reference, task.current, task.names, task.options, task.currentRows) };
  } catch (e) {
    result = { id: task.id, error: e instanceof Error ? e.message : String(e) };
  }
  parentPort?.postMessage(result);
});
