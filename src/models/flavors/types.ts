import type { EnforcedInput, ModelInput } from '../signature.js';

/** Records for column inputs; nested arrays (or a map of them) for tensor inputs; js models may return anything JSON. */
export type Prediction = Record<string, unknown>[] | unknown[] | Record<string, unknown>;

/** A loaded flavor: takes input already checked against the signature. */
export interface FlavorModel {
  readonly flavor: string;
  /** `raw` is the caller's input before enforcement (js models that take tensors read it). */
  predict(input: EnforcedInput, raw: ModelInput): Promise<Prediction>;
  close(): Promise<void>;
}
