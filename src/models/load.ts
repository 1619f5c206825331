/** Loads a model directory and returns a predict that enforces the signature before the flavor runs. */
import { FlywheelError } from '../core/index.js';
import { loadJsFlavor, JS_FLAVOR } from './flavors/js.js';
import { loadOnnxFlavor, ONNX_FLAVOR } from './flavors/onnx.js';
import type { FlavorModel, Prediction } from './flavors/types.js';
import { readMLmodel, type MLmodel } from './mlmodel.js';
import { enforceSignature, parseSignature, type ModelInput, type ModelSignature } from './signature.js';

export type RunnableFlavor = typeof ONNX_FLAVOR | typeof JS_FLAVOR;

export interface LoadModelOptions {
  /** Allow importing a `js` model's module (runs its code). Never set this for untrusted models. */
  allowJs?: boolean;
}

export interface LoadedModel {
  readonly metadata: MLmodel;
  readonly signature: ModelSignature | undefined;
  readonly flavor: RunnableFlavor;
  predict(input: ModelInput): Promise<Prediction>;
  /** Frees the runtime session. */
  close(): Promise<void>;
}

/** The flavor Flywheel would run for this MLmodel, or an error saying why none fits. */
export function chooseFlavor(metadata: MLmodel): RunnableFlavor {
  if (ONNX_FLAVOR in metadata.flavors) return ONNX_FLAVOR;
  if (JS_FLAVOR in metadata.flavors) return JS_FLAVOR;
  const names = Object.keys(metadata.flavors).join(', ');
  throw new FlywheelError(
    'INVALID_PARAMETER_VALUE',
    `This model has no flavor Flywheel can run (onnx or js); it has: ${names}. ` +
      'Flywheel never unpickles or runs Python models; log the model as ONNX (e.g. mlflow.onnx.log_model).',
  );
}

export async function loadModelFromDirectory(dir: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const metadata = await readMLmodel(dir);
  const signature = parseSignature(metadata.signature);
  const flavor = chooseFlavor(metadata);
  const impl: FlavorModel =
    flavor === ONNX_FLAVOR
      ? await loadOnnxFlavor(dir, metadata.flavors.onnx)
      : await loadJsFlavor(dir, metadata.flavors.js, options.allowJs === true);
  return {
    metadata,
    signature,
    flavor,
    async predict(input) {
      return impl.predict(enforceSignature(input, signature), input);
    },
    close: () => impl.close(),
  };
}
