import { alreadyExists, FlywheelError, invalidParameter } from '../../core/errors.js';
import { arrowTableMaterializer } from './table-materializer.js';
import { directoryMaterializer, fileMaterializer, modelMaterializer } from './path-materializers.js';
import type { Materializer } from './types.js';
import { bytesMaterializer, jsonMaterializer, stringMaterializer } from './value-materializers.js';

/** Tried in this order after custom materializers; json last, as the catch-all for plain data. */
export const BUILT_IN_MATERIALIZERS: readonly Materializer<any>[] = [
  stringMaterializer,
  bytesMaterializer,
  arrowTableMaterializer,
  modelMaterializer,
  directoryMaterializer,
  fileMaterializer,
  jsonMaterializer,
];

/** What a value is, for error messages: `Map`, `function`, `bigint`, ... */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return (value as object).constructor?.name ?? 'object';
}

/**
 * The materializers a pipeline can use. A value's materializer is named explicitly or is the first whose
 * `canHandle` accepts it: custom materializers in registration order, then the built-ins.
 */
export class MaterializerRegistry {
  private readonly custom: Materializer<any>[] = [];
  private readonly builtIns: Materializer<any>[];

  constructor(options: { builtIns?: boolean } = {}) {
    this.builtIns = options.builtIns === false ? [] : [...BUILT_IN_MATERIALIZERS];
  }

  /** Adds a custom materializer; its name must be new (built-in names included). */
  register<T>(materializer: Materializer<T>): this {
    const { name, version } = materializer;
    if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/.test(name)) {
      throw invalidParameter(`Invalid materializer name '${String(name)}': use letters, digits, '_', '.', ':' and '-'`);
    }
    if (typeof version !== 'string' || version === '') {
      throw invalidParameter(`Materializer '${name}' needs a non-empty version string`);
    }
    if (this.find(name)) throw alreadyExists(`A materializer named '${name}' is already registered`);
    this.custom.push(materializer as Materializer<any>);
    return this;
  }

  /** All materializers in selection order. */
  list(): Materializer<unknown>[] {
    return [...this.custom, ...this.builtIns];
  }

  find(name: string): Materializer<unknown> | undefined {
    // Called per output on every cache lookup: no array built per call.
    return this.custom.find((m) => m.name === name) ?? this.builtIns.find((m) => m.name === name);
  }

  /** The materializer named `name`; INVALID_PARAMETER_VALUE naming the registered ones when unknown. */
  get(name: string): Materializer<unknown> {
    const found = this.find(name);
    if (!found) {
      throw invalidParameter(`Unknown materializer '${name}'; registered: ${this.list().map((m) => m.name).join(', ')}`);
    }
    return found;
  }

  /** The materializer for `value`: the named one (which must accept it) or the first that accepts it. */
  select(value: unknown, name?: string): Materializer<unknown> {
    if (name !== undefined) {
      const m = this.get(name);
      if (!accepts(m, value)) {
        throw invalidParameter(`Materializer '${name}' cannot handle a value of type ${describeValue(value)}`);
      }
      return m;
    }
    const m = this.custom.find((candidate) => accepts(candidate, value)) ?? this.builtIns.find((candidate) => accepts(candidate, value));
    if (!m) {
      throw invalidParameter(
        `No materializer can handle a value of type ${describeValue(value)}; ` +
          `register one with MaterializerRegistry.register() (registered: ${this.list().map((x) => x.name).join(', ')})`,
      );
    }
    return m;
  }
}

function accepts(m: Materializer<unknown>, value: unknown): boolean {
  try {
    return m.canHandle(value);
  } catch (e) {
    throw new FlywheelError(
      'INVALID_PARAMETER_VALUE',
      `Materializer '${m.name}' failed in canHandle(): ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
}
