// Builds one ONNX graph (nodes, initializers, inputs, outputs) and encodes the ModelProto with
// onnx-proto (protobufjs over ONNX's own schema). Value names are made unique here; lowerings
// only say which op reads which values.
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;

export const OPSET = 17;
/** ONNX's element types (TensorProto.DataType), for initializers, inputs and Cast. */
export const ONNX_TYPE = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9, DOUBLE: 11 } as const;
const FLOAT = ONNX_TYPE.FLOAT;
const INT64 = ONNX_TYPE.INT64;

/** A float attribute (plain numbers are integer attributes). */
export interface FloatAttr {
  float: number;
}
export type AttrValue = number | number[] | string | FloatAttr;

export function float(value: number): FloatAttr {
  return { float: value };
}

function attribute(name: string, value: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === "number") return { name, type: T.INT, i: value };
  if (typeof value === "string") return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  return { name, type: T.FLOAT, f: value.float };
}

function valueInfo(name: string, dims: readonly number[], elemType: number): onnxProto.onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } };
}

export class OnnxGraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly used = new Set<string>();
  private readonly int64Constants = new Map<string, string>();
  private readonly floatScalars = new Map<number, string>();
  /** Each float initializer's values by name, for lowerings that rearrange a constant (a filter) at build time. */
  private readonly floatConstants = new Map<string, { data: Float32Array; dims: readonly number[] }>();

  /** A value name from `base` not used before. */
  fresh(base: string): string {
    const clean = base.replace(/[^A-Za-z0-9_.:]/g, "_") || "v";
    let name = clean;
    for (let i = 1; this.used.has(name); i++) name = `${clean}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Adds an op; returns its output value names. */
  op(type: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs = 1, hint = type): string[] {
    const names = Array.from({ length: outputs }, () => this.fresh(hint));
    this.nodes.push({
      opType: type, input: inputs, output: names, name: this.fresh(`${hint}_op`),
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return names;
  }

  /** An op with one output. */
  op1(type: string, inputs: string[], attrs: Record<string, AttrValue> = {}, hint = type): string {
    return this.op(type, inputs, attrs, 1, hint)[0];
  }

  /** A float32 initializer (weights, masks, drawn noise). */
  floatConstant(base: string, data: Float32Array, dims: readonly number[]): string {
    const name = this.fresh(base);
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.initializers.push({ name, dataType: FLOAT, dims: [...dims], rawData: raw });
    this.floatConstants.set(name, { data, dims: [...dims] });
    return name;
  }

  /** The values of `name` when it is a float initializer (not an input or a computed value). */
  constantValues(name: string): Float32Array | undefined {
    return this.floatConstants.get(name)?.data;
  }

  /** A float32 scalar initializer, shared by value. */
  scalar(value: number): string {
    let name = this.floatScalars.get(value);
    if (name === undefined) {
      name = this.floatConstant("scalar", Float32Array.of(value), []);
      this.floatScalars.set(value, name);
    }
    return name;
  }

  /** An int64 initializer (shapes, axes, indices), shared by value. */
  int64s(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const key = `${dims.join("x")}:${values.join(",")}`;
    let name = this.int64Constants.get(key);
    if (name === undefined) {
      name = this.fresh("i64");
      const data = BigInt64Array.from(values.map((v) => BigInt(v)));
      this.initializers.push({ name, dataType: INT64, dims: [...dims], rawData: new Uint8Array(data.buffer) });
      this.int64Constants.set(key, name);
    }
    return name;
  }

  /** A float32 graph input of a fixed shape. */
  input(base: string, dims: readonly number[]): string {
    const name = this.fresh(base);
    this.inputs.push(valueInfo(name, dims, FLOAT));
    return name;
  }

  /**
   * Makes `value` a graph output and returns the name to fetch. The value itself is declared
   * (ONNX Runtime's optimiser dropped producers of values read only through an Identity
   * output); a value already declared gets an Identity copy named from `base`.
   */
  output(base: string, value: string, dims: readonly number[]): string {
    let name = value;
    if (this.outputs.some((o) => o.name === value) || this.inputs.some((i) => i.name === value) || this.initializers.some((t) => t.name === value)) {
      name = this.fresh(base);
      this.nodes.push({ opType: "Identity", input: [value], output: [name], name: this.fresh(`${base}_out`) });
    }
    this.outputs.push(valueInfo(name, dims, FLOAT));
    return name;
  }

  encode(): Uint8Array {
    // a constant a lowering replaced (a filter rearranged at build time) is not written
    const read = new Set([...this.nodes.flatMap((n) => n.input ?? []), ...this.outputs.map((o) => o.name)]);
    const initializer = this.initializers.filter((t) => read.has(t.name ?? ""));
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: "tfbend",
      opsetImport: [{ domain: "", version: OPSET }],
      graph: { name: "tfbend", node: this.nodes, initializer, input: this.inputs, output: this.outputs },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
