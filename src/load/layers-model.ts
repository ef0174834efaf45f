// A TF.js LayersModel (Keras-converted model.json) as a tfbend module: every Keras layer
// becomes a leaf module whose parameters wrap the layer's variables, and the model's
// forward runs the layers node by node (model.nodesByDepth), so tracing, bending,
// versions and activations work as for tb.nn modules. Weight bending never writes the
// variables: a layer's `variable.read()` is redirected for the duration of its call.
import * as tfl from "@tensorflow/tfjs-layers";
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { Module, Parameter } from "../nn/module.js";

type LayerVariable = tfl.LayerVariable;

/** A parameter that is a Keras layer's variable; loading writes into the variable. */
export class LayerVariableParameter extends Parameter {
  constructor(readonly variable: LayerVariable) {
    super(variable.read());
  }
  protected override replace(value: Tensor): void {
    this.variable.write(value);
    this._data = this.variable.read();
  }
}

const RESERVED = new Set(Object.getOwnPropertyNames(new Module()).concat(["forward", "call", "constructor"]));

function propertyName(name: string, taken: Set<string>): string {
  let key = name.replace(/\./g, "_");
  if (RESERVED.has(key)) key = `_${key}`;
  let unique = key;
  for (let i = 1; taken.has(unique); i++) unique = `${key}_${i}`;
  taken.add(unique);
  return unique;
}

/** One Keras layer as a leaf module (call_module node named after the layer). */
export class KerasLayer extends Module {
  override isLeaf = true;
  private readonly params: LayerVariableParameter[] = [];

  constructor(readonly layer: tfl.layers.Layer) {
    super();
    const taken = new Set<string>();
    for (const variable of layer.weights) {
      const short = (variable.originalName ?? variable.name).split("/").pop()!.replace(/:\d+$/, "");
      const param = new LayerVariableParameter(variable);
      (this as unknown as Record<string, Parameter>)[propertyName(short, taken)] = param;
      this.params.push(param);
    }
  }

  override forward(inputs: Tensor | Tensor[], kwargs: Record<string, unknown> = {}): Tensor | Tensor[] {
    const redirected: [LayerVariable, LayerVariable["read"]][] = [];
    for (const p of this.params) {
      const value = p.value;
      if (value !== p.data) {
        redirected.push([p.variable, p.variable.read]);
        p.variable.read = () => value as tf.Variable;
      }
    }
    try {
      return this.layer.apply(inputs, { ...kwargs, training: false }) as Tensor | Tensor[];
    } finally {
      for (const [variable] of redirected) delete (variable as unknown as { read?: unknown }).read;
    }
  }

  override extraRepr(): string {
    return this.layer.getClassName();
  }
}

interface SymbolicRef {
  id: number;
}

interface KerasNode {
  outboundLayer: tfl.layers.Layer;
  inputTensors: SymbolicRef[];
  outputTensors: SymbolicRef[];
  callArgs?: Record<string, unknown>;
}

/** A LayersModel (functional, Sequential or nested) as a module traced through its layers. */
export class KerasModel extends Module {
  private readonly byLayer = new Map<tfl.layers.Layer, Module>();

  constructor(readonly model: tfl.LayersModel) {
    super();
    const taken = new Set<string>();
    for (const layer of model.layers) {
      if (layer.getClassName() === "InputLayer") continue;
      const child = layer instanceof tfl.LayersModel ? new KerasModel(layer) : new KerasLayer(layer);
      (this as unknown as Record<string, Module>)[propertyName(layer.name, taken)] = child;
      this.byLayer.set(layer, child);
    }
  }

  private run(layer: tfl.layers.Layer, inputs: Tensor | Tensor[], kwargs: Record<string, unknown>): Tensor | Tensor[] {
    const child = this.byLayer.get(layer);
    if (child === undefined) throw new BendingError(`layer '${layer.name}' is not part of ${this.model.name}`);
    if (child instanceof KerasModel) return child.forward(inputs);
    return (child as KerasLayer).call(inputs, kwargs);
  }

  override forward(...args: (Tensor | Tensor[])[]): Tensor | Tensor[] {
    const inputs = args.length === 1 && Array.isArray(args[0]) ? args[0] : (args as Tensor[]);
    if (this.model instanceof tfl.Sequential) {
      let x: Tensor | Tensor[] = inputs.length === 1 ? inputs[0] : inputs;
      for (const layer of this.model.layers) {
        if (layer.getClassName() !== "InputLayer") x = this.run(layer, x, {});
      }
      return x;
    }
    const values = new Map<number, Tensor>();
    const modelInputs = this.model.inputs as unknown as SymbolicRef[];
    if (inputs.length !== modelInputs.length) {
      throw new BendingError(`${this.model.name} takes ${modelInputs.length} input(s), got ${inputs.length}`);
    }
    modelInputs.forEach((t, i) => values.set(t.id, inputs[i]));
    const byDepth = (this.model as unknown as { nodesByDepth: Record<string, KerasNode[]> }).nodesByDepth;
    const depths = Object.keys(byDepth).map(Number).sort((a, b) => b - a);
    for (const depth of depths) {
      for (const node of byDepth[depth]) {
        const layer = node.outboundLayer;
        if (layer.getClassName() === "InputLayer") continue;
        const ins = node.inputTensors.map((t) => {
          const v = values.get(t.id);
          if (v === undefined) throw new BendingError(`layer '${layer.name}' reads a tensor that was not computed`);
          return v;
        });
        const kwargs = Object.fromEntries(Object.entries(node.callArgs ?? {}).filter(([k]) => k !== "training"));
        const out = this.run(layer, ins.length === 1 ? ins[0] : ins, kwargs);
        const outs = Array.isArray(out) ? out : [out];
        node.outputTensors.forEach((t, i) => values.set(t.id, outs[i]));
      }
    }
    const outputs = (this.model.outputs as unknown as SymbolicRef[]).map((t) => values.get(t.id)!);
    return outputs.length === 1 ? outputs[0] : outputs;
  }

  override argumentNames(fn: string): string[] | null {
    if (fn !== "forward") return null;
    return this.model.inputLayers.map((layer) => layer.name);
  }

  /** Disposes the wrapped LayersModel's variables. */
  override dispose(): void {
    this.model.dispose();
  }

  /** Example input of the model's declared input shapes (batch 1, unknown dims 1). */
  exampleInputs(): Tensor[] {
    return (this.model.inputs as unknown as { shape: (number | null)[] }[]).map((t) => tf.zeros(t.shape.map((d) => d ?? 1)));
  }
}
