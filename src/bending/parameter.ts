// Live controls: a named number that bendings read. Setting it from a patch moves
// every bending argument bound to it on the next forward pass.
import { BendingError } from "../errors.js";
import { formatArg } from "../util/format.js";

/** [min, max]; an open end is null in JSON (JSON has no Infinity). */
export type RangeJSON = readonly [number | null, number | null];

export interface ParameterOptions {
  /** [min, max]; an end may be ±Infinity (or null) for a half-open range such as std >= 0. */
  range?: RangeJSON;
  /** Clamp out-of-range values into the range instead of refusing them. */
  clamp?: boolean;
}

export class BendingParameter {
  private _value: number;
  readonly range: [number, number] | null;
  readonly clamp: boolean;

  constructor(readonly name: string, value: number, options: ParameterOptions = {}) {
    if (!/^[A-Za-z_][\w.-]*$/.test(name)) {
      throw new BendingError(`control name '${name}' must start with a letter or _ and contain only letters, digits, _ . -`);
    }
    this.range = options.range ? [options.range[0] ?? -Infinity, options.range[1] ?? Infinity] : null;
    if (this.range && !(this.range[0] <= this.range[1])) {
      throw new BendingError(`control '${name}': range [${this.range.join(", ")}] must be [min, max]`);
    }
    this.clamp = options.clamp ?? false;
    this._value = this.check(value);
  }

  private check(value: number): number {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new BendingError(`control '${this.name}' needs a finite number, got ${String(value)}`);
    }
    if (this.range && (value < this.range[0] || value > this.range[1])) {
      if (this.clamp) return Math.min(this.range[1], Math.max(this.range[0], value));
      throw new BendingError(`control '${this.name}' value ${value} is outside its range [${this.range.join(", ")}]`);
    }
    return value;
  }

  get value(): number {
    return this._value;
  }

  /** Sets the value; out of range without clamp is an error and changes nothing. */
  set value(value: number) {
    this._value = this.check(value);
  }

  /** The independent controls this value depends on (itself). */
  sources(): BendingParameter[] {
    return [this];
  }

  /** A derived control that follows this one: value · k. */
  times(k: number): DerivedParameter {
    return new DerivedParameter(`${this.name}*${k}`, this, (v) => v * k, { op: "times", k });
  }

  /** A derived control that follows this one: value + k. */
  plus(k: number): DerivedParameter {
    return new DerivedParameter(`${this.name}+${k}`, this, (v) => v + k, { op: "plus", k });
  }

  toString(): string {
    return `BendingParameter(${this.name}=${formatArg(this._value)})`;
  }

  toJSON(): ParameterJSON {
    const end = (v: number) => (Number.isFinite(v) ? v : null);
    return { control: this.name, value: this._value, range: this.range && [end(this.range[0]), end(this.range[1])], clamp: this.clamp };
  }
}

export interface ParameterJSON {
  control: string;
  value: number;
  range: [number | null, number | null] | null;
  clamp: boolean;
  derived?: { op: "times" | "plus"; k: number }[];
}

/** A read-only control computed from another one. */
export class DerivedParameter extends BendingParameter {
  constructor(
    name: string,
    private readonly source: BendingParameter,
    private readonly map: (v: number) => number,
    private readonly step: { op: "times" | "plus"; k: number },
  ) {
    super(name.replace(/[^\w.-]/g, "_"), 0);
  }
  override get value(): number {
    return this.map(this.source.value);
  }
  override set value(_v: number) {
    throw new BendingError(`control '${this.name}' is derived from '${this.source.name}'; set that one instead`);
  }
  override sources(): BendingParameter[] {
    return this.source.sources();
  }
  override toJSON(): ParameterJSON {
    const base = this.source.toJSON();
    return { ...base, derived: [...(base.derived ?? []), this.step] };
  }
}

export type Controllable = number | BendingParameter;

export function resolveControl(value: Controllable): number {
  return typeof value === "number" ? value : value.value;
}

export function controlRepr(value: Controllable): string {
  return typeof value === "number" ? formatArg(value) : `${value.name}=${formatArg(value.value)}`;
}
