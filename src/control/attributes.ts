// nn~'s attributes that are not plain values: tensor attributes (a wavetable the model's
// get_<name>/set_<name> pass as a tensor) and buffer attributes (nn~ fills them from a
// buffer~ with set_buffer_attribute(name, tensor, sr)). Both are read from WAV files inside
// the workspace; the model keeps its own copy, so the tensors made here are freed at once.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { readWavChannels } from "../formats/media.js";
import { TorchScriptRoot } from "../torchscript/module.js";
import { nnTildeInterface } from "../nn/method-spec.js";
import type { Atom } from "../protocol/index.js";
import { noMore, symbol } from "./command-args.js";
import { attributeTypeName } from "./attribute-types.js";
import type { CommandContext, CommandSpec } from "./command-table.js";

/** The loaded model as an nn~ TorchScript export (the only models with tensor and buffer attributes). */
function scriptRoot(s: CommandContext, what: string): TorchScriptRoot {
  const module = s.requireModel().module;
  if (!(module instanceof TorchScriptRoot)) throw new BendingError(`model '${s.modelName}' has no ${what} (only nn~ TorchScript files have them)`);
  return module;
}

/** The names of the model's tensor attributes (none for models that are not nn~ TorchScript files). */
export function tensorAttributeNames(s: CommandContext): string[] {
  const module = s.bended?.module;
  return module instanceof TorchScriptRoot ? module.tensorAttributes.map((a) => a.name) : [];
}

/** `get <tensor attribute>`'s values: the name, then the tensor's shape. */
export function tensorAttributeShape(s: CommandContext, name: string): Atom[] {
  const t = scriptRoot(s, "tensor attributes").getTensorAttribute(name);
  const shape = t.shape;
  t.dispose();
  return [name, ...shape];
}

/** A workspace WAV file: its channels and sample rate; names the file in errors. */
async function readWorkspaceWav(s: CommandContext, file: string): Promise<{ channels: Float32Array[]; sampleRate: number; path: string }> {
  if (!/\.wav$/i.test(file)) throw new BendingError(`a WAV file is needed, got '${file}'`);
  const path = s.resolvePath(file, { allowModels: true });
  try {
    const { channels, sampleRate } = await readWavChannels(path);
    if (channels.length === 0 || channels[0].length === 0) throw new BendingError("it holds no samples");
    return { channels, sampleRate, path };
  } catch (e) {
    throw new BendingError(`cannot read '${file}' as a WAV file: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Channels as one tensor: [channels, samples], or [samples] for `flatMono` and a mono file. */
function channelsTensor(channels: Float32Array[], flatMono: boolean): Tensor {
  const samples = channels[0].length;
  const data = new Float32Array(channels.length * samples);
  channels.forEach((c, i) => data.set(c, i * samples));
  return tf.tensor(data, flatMono && channels.length === 1 ? [samples] : [channels.length, samples]);
}

export const ATTRIBUTE_COMMANDS: readonly CommandSpec[] = [
  {
    name: "attributes",
    usage: "attributes",
    help: "the model's nn~ attributes with their types: name type ... (an enum's type is enum[name,name,...]; dict: name, type, value, and an enum's choices; a tensor attribute's value is its shape)",
    run: (s, a) => {
      noMore(a, 0, "attributes");
      const plain = (nnTildeInterface(s.requireModel().module)?.attributes ?? []).map((spec) => ({
        name: spec.name, type: attributeTypeName(spec.type, spec.choices), value: s.getAttribute(spec.name), ...(spec.choices ? { choices: spec.choices } : {}),
      }));
      const tensors = tensorAttributeNames(s).map((name) => ({ name, type: "Tensor", value: tensorAttributeShape(s, name).slice(1) }));
      const all = [...plain, ...tensors];
      return { values: all.flatMap((x) => [x.name, x.type]), dict: all };
    },
  },
  {
    name: "tensor",
    usage: "tensor <attribute> <file.wav>",
    help: "set a tensor attribute (a wavetable) from a WAV file in the workspace: a mono file as [samples], more channels as [channels, samples]; 'get <attribute>' answers its shape",
    run: async (s, a) => {
      const name = symbol(a, 0, "tensor attribute");
      const file = symbol(a, 1, "file.wav");
      noMore(a, 2, "tensor <attribute> <file.wav>");
      const root = scriptRoot(s, "tensor attributes");
      if (!root.tensorAttributes.some((t) => t.name === name)) {
        throw new BendingError(`unknown tensor attribute '${name}' (tensor attributes: ${root.tensorAttributes.map((t) => t.name).join(", ") || "none"})`);
      }
      const { channels } = await readWorkspaceWav(s, file);
      const value = channelsTensor(channels, true);
      const shape = value.shape;
      // Set at once, not crossfaded (the old table would have to outlive this command); the next block is declicked.
      s.checkNotRendering("tensor");
      try {
        root.setTensorAttribute(name, value);
      } finally {
        value.dispose(); // the model keeps its own copy
      }
      return { values: [name, ...shape] };
    },
  },
  {
    name: "buffer",
    usage: "buffer <name> <file.wav> | buffer <name> clear",
    help: "fill an nn~ buffer attribute from a WAV file in the workspace (as nn~ does from a buffer~: [channels, samples] and the file's sample rate), or clear it",
    run: async (s, a) => {
      const name = symbol(a, 0, "buffer attribute");
      const what = symbol(a, 1, "file.wav or 'clear'");
      noMore(a, 2, "buffer <name> <file.wav> | buffer <name> clear");
      const root = scriptRoot(s, "buffer attributes");
      if (!root.bufferAttributes.includes(name)) {
        throw new BendingError(`unknown buffer attribute '${name}' (buffer attributes: ${root.bufferAttributes.join(", ") || "none"})`);
      }
      s.checkNotRendering("buffer");
      if (what === "clear") {
        root.clearBufferAttribute(name);
        return { values: [name, "clear"] };
      }
      const { channels, sampleRate } = await readWorkspaceWav(s, what);
      const value = channelsTensor(channels, false);
      try {
        root.setBufferAttribute(name, value, sampleRate);
      } finally {
        value.dispose();
      }
      return { values: [name, channels.length, channels[0].length, sampleRate] };
    },
  },
  {
    name: "buffers",
    usage: "buffers",
    help: "the model's nn~ buffer attributes: name and 1 when empty, 0 when filled ...",
    run: (s, a) => {
      noMore(a, 0, "buffers");
      s.requireModel();
      const module = s.bended?.module;
      const root = module instanceof TorchScriptRoot ? module : null;
      const buffers = (root?.bufferAttributes ?? []).map((name) => ({ name, empty: root!.isBufferEmpty(name) }));
      return { values: buffers.flatMap((b) => [b.name, b.empty ? 1 : 0]), dict: buffers };
    },
  },
];
