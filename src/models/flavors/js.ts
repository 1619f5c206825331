/**
 * The `js` flavor: an ES module in the model directory exporting `predict(rows)` and optionally `load()`.
 * Loading it runs its code, so it is imported only when the caller passes `allowJs: true`; the server
 * never does this for a model someone uploaded.
 */
import { pathToFileURL } from 'node:url';
import { FlywheelError, invalidParameter } from '../../core/index.js';
import type { FlavorConfig } from '../mlmodel.js';
import { resolveModelFile } from '../model-files.js';
import type { FlavorModel, Prediction } from './types.js';

export const JS_FLAVOR = 'js';
export const DEFAULT_JS_MODULE = 'model.mjs';

/** What a js model module exports. */
export interface JsModelModule {
  predict(rows: unknown, context: { modelDir: string; state: unknown }): Prediction | Promise<Prediction>;
  load?(context: { modelDir: string }): unknown;
}

export async function loadJsFlavor(modelDir: string, config: FlavorConfig, allowJs: boolean): Promise<FlavorModel> {
  if (!allowJs) {
    throw new FlywheelError(
      'PERMISSION_DENIED',
      "This is a 'js' model: loading it runs its code, so Flywheel loads js models only when you ask " +
        '(pass { allowJs: true } to load a model you trust).',
    );
  }
  const file = await resolveModelFile(modelDir, config.module ?? DEFAULT_JS_MODULE, 'js module');
  let mod: Partial<JsModelModule>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Partial<JsModelModule>;
  } catch (e) {
    throw invalidParameter(`Could not import the js model module: ${(e as Error).message}`);
  }
  const { predict, load } = mod;
  if (typeof predict !== 'function') throw invalidParameter('The js model module does not export a predict function');
  const state = typeof load === 'function' ? await load({ modelDir }) : undefined;
  return {
    flavor: JS_FLAVOR,
    async predict(input, raw) {
      return predict(input.kind === 'columns' ? input.rows : raw, { modelDir, state });
    },
    async close() {},
  };
}
