// nn~'s attributes that are not plain values: tensor attributes (a wavetable the model's
// get_<name>/set_<name> pass as a tensor) and buffer attributes (nn~ fills them from a
// buffer~ with set_buffer_attribute(name, tensor, sr)). Both are read from WAV files inside
// the workspace, or from samples a transport carries: an OSC blob that comes with the
// command, or a Jitter matrix (jit.buffer~'s output) sent where `matrix` routes it. The
// model keeps its own copy, so the tensors made here are freed at once.
import { tf, type Tensor } from "../tf.js";
import { BendingError } from "../errors.js";
import { readWavChannels } from "../formats/media.js";
import { TorchScriptRoot } from "../torchscript/module.js";
import { nnTildeInterface } from "../nn/method-spec.js";
import type { Atom, Reply } from "../protocol/index.js";
import { number, noMore, symbol } from "./command-args.js";
import { attributeTypeName } from "./attribute-types.js";
import type { CommandContext, CommandSpec, MatrixRoute } from "./command-table.js";
import type { AudioChunk } from "./audio-input.js";


/** Most channels samples for a buffer attribute may have (as live input). */
const MAX_DATA_CHANNELS = 64;
/** Most dimensions a tensor attribute sent as samples may have. */
const MAX_TENSOR_DIMS = 8;

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

/** Channels as one array, channel after channel. */
function channelsTensorData(channels: Float32Array[]): Float32Array {
  const samples = channels[0].length;
  const data = new Float32Array(channels.length * samples);
  channels.forEach((c, i) => data.set(c, i * samples));
  return data;
}

/** Channels as one tensor: [channels, samples], or [samples] for `flatMono` and a mono file. */
function channelsTensor(channels: Float32Array[], flatMono: boolean): Tensor {
  const samples = channels[0].length;
  return tf.tensor(channelsTensorData(channels), flatMono && channels.length === 1 ? [samples] : [channels.length, samples]);
}

function checkBufferName(root: TorchScriptRoot, name: string): void {
  if (!root.bufferAttributes.includes(name)) throw new BendingError(`unknown buffer attribute '${name}' (buffer attributes: ${root.bufferAttributes.join(", ") || "none"})`);
}

function checkTensorName(root: TorchScriptRoot, name: string): void {
  if (!root.tensorAttributes.some((t) => t.name === name)) {
    throw new BendingError(`unknown tensor attribute '${name}' (tensor attributes: ${root.tensorAttributes.map((t) => t.name).join(", ") || "none"})`);
  }
}

/** Refuses samples that are empty or not finite (checked before anything is set). */
function checkSamples(data: Float32Array, what: string): void {
  if (data.length === 0) throw new BendingError(`${what}: no samples`);
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) throw new BendingError(`${what}: sample ${i} is not a finite number`);
}

/** Sets a tensor attribute to `value` (the model keeps its own copy; `value` is freed). */
function setTensor(s: CommandContext, root: TorchScriptRoot, name: string, value: Tensor): number[] {
  const shape = value.shape;
  // Set at once, not crossfaded (the old table would have to outlive this command); the next block is declicked.
  s.checkNotRendering("tensor");
  try {
    root.setTensorAttribute(name, value);
  } finally {
    value.dispose(); // the model keeps its own copy
  }
  return shape;
}

/** Fills a buffer attribute with `channels` channels of samples (channel after channel) at `sampleRate`. */
function fillBuffer(s: CommandContext, root: TorchScriptRoot, name: string, data: Float32Array, channels: number, sampleRate: number): Atom[] {
  checkBufferName(root, name);
  const what = `buffer ${name}`;
  if (!Number.isInteger(channels) || channels < 1 || channels > MAX_DATA_CHANNELS) throw new BendingError(`${what}: channels must be 1..${MAX_DATA_CHANNELS}, got ${channels}`);
  if (!Number.isInteger(sampleRate) || sampleRate <= 0) throw new BendingError(`${what}: the sample rate must be a positive int, got ${sampleRate}`);
  checkSamples(data, what);
  if (data.length % channels !== 0) throw new BendingError(`${what}: ${data.length} samples are not whole frames of ${channels} channels`);
  s.checkNotRendering("buffer");
  const frames = data.length / channels;
  const value = tf.tensor(data, [channels, frames]);
  try {
    root.setBufferAttribute(name, value, sampleRate);
  } finally {
    value.dispose();
  }
  return [name, channels, frames, sampleRate];
}

/** Sets a tensor attribute from samples laid out row-major in `shape`. */
function fillTensor(s: CommandContext, root: TorchScriptRoot, name: string, data: Float32Array, shape: number[]): Atom[] {
  checkTensorName(root, name);
  const what = `tensor ${name}`;
  if (shape.length === 0 || shape.length > MAX_TENSOR_DIMS || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new BendingError(`${what}: the shape is 1 to ${MAX_TENSOR_DIMS} positive ints, got [${shape.join(", ")}]`);
  }
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== data.length) throw new BendingError(`${what}: shape [${shape.join(", ")}] holds ${size} values, the samples are ${data.length}`);
  checkSamples(data, what);
  return [name, ...setTensor(s, root, name, tf.tensor(data, shape))];
}

/**
 * A Jitter matrix (float32, one plane per channel, time across dim 0: jit.buffer~'s layout,
 * planes made channel after channel) where `route` sends it: a buffer attribute takes
 * [channels, frames] at the route's rate; a tensor attribute [frames] from one plane, else
 * [planes, frames], as from a WAV file. Never throws.
 */
export function receiveMatrix(s: CommandContext, route: Exclude<MatrixRoute, { kind: "audio" }>, chunk: AudioChunk): Reply {
  try {
    const root = scriptRoot(s, `${route.kind} attributes`);
    const values = route.kind === "buffer" ? fillBuffer(s, root, route.name, chunk.data, chunk.channels, route.sampleRate)
      : fillTensor(s, root, route.name, chunk.data, chunk.channels === 1 ? [chunk.data.length] : [chunk.channels, chunk.data.length / chunk.channels]);
    return { command: route.kind, ok: true, values };
  } catch (e) {
    return { command: route.kind, ok: false, values: [`Jitter matrix for ${route.kind} ${route.name}: ${e instanceof Error ? e.message : String(e)}`] };
  }
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
    help: "set a tensor attribute (a wavetable) from a WAV file in the workspace: a mono file as [samples], more channels as [channels, samples]; 'get <attribute>' answers its shape. Over OSC: /tfbend/tensor <attribute> <dim>... <blob of float32 LE, row-major>",
    takesData: true,
    run: async (s, a, data) => {
      const name = symbol(a, 0, "tensor attribute");
      const root = scriptRoot(s, "tensor attributes");
      if (data !== undefined) {
        const shape = a.slice(1).map((_, i) => number(a, i + 1, "dimension"));
        return { values: fillTensor(s, root, name, data, shape) };
      }
      const file = symbol(a, 1, "file.wav");
      noMore(a, 2, "tensor <attribute> <file.wav>");
      checkTensorName(root, name);
      const { channels } = await readWorkspaceWav(s, file);
      return { values: [name, ...setTensor(s, root, name, channelsTensor(channels, true))] };
    },
  },
  {
    name: "buffer",
    usage: "buffer <name> <file.wav> | buffer <name> clear",
    help: "fill an nn~ buffer attribute from a WAV file in the workspace (as nn~ does from a buffer~: [channels, samples] and the file's sample rate), or clear it. Over OSC: /tfbend/buffer <name> <sample_rate> [channels] <blob of float32 LE, channel after channel>",
    takesData: true,
    run: async (s, a, data) => {
      const name = symbol(a, 0, "buffer attribute");
      const root = scriptRoot(s, "buffer attributes");
      if (data !== undefined) {
        const sampleRate = number(a, 1, "sample rate");
        const channels = a.length > 2 ? number(a, 2, "channels") : 1;
        noMore(a, 3, "buffer <name> <sample_rate> [channels] with samples");
        return { values: fillBuffer(s, root, name, data, channels, sampleRate) };
      }
      const what = symbol(a, 1, "file.wav or 'clear'");
      noMore(a, 2, "buffer <name> <file.wav> | buffer <name> clear");
      checkBufferName(root, name);
      s.checkNotRendering("buffer");
      if (what === "clear") {
        root.clearBufferAttribute(name);
        return { values: [name, "clear"] };
      }
      const { channels, sampleRate } = await readWorkspaceWav(s, what);
      return { values: fillBuffer(s, root, name, channelsTensorData(channels), channels.length, sampleRate) };
    },
  },
  {
    name: "matrix",
    usage: "matrix [audio | buffer <name> <sample_rate> | tensor <attribute>]",
    help: "where the Jitter matrices that arrive go (until the next 'matrix'): live audio (the default), a buffer attribute (jit.buffer~ → jit.net.send: one plane per channel, at <sample_rate>), or a tensor attribute ([frames] from one plane, else [planes, frames]); bare, answers the route. Wait for its reply before sending the matrix",
    run: (s, a) => {
      if (a.length === 0) {
        const r = s.matrixRoute;
        return { values: r.kind === "audio" ? ["audio"] : r.kind === "buffer" ? ["buffer", r.name, r.sampleRate] : ["tensor", r.name] };
      }
      const kind = symbol(a, 0, "audio, buffer or tensor");
      if (kind === "audio") {
        noMore(a, 1, "matrix audio");
        s.matrixRoute = { kind };
        return { values: [kind] };
      }
      if (kind !== "buffer" && kind !== "tensor") throw new BendingError(`matrix routes to audio, buffer or tensor, got '${kind}'`);
      const name = symbol(a, 1, `${kind} attribute`);
      const root = scriptRoot(s, `${kind} attributes`);
      if (kind === "tensor") {
        noMore(a, 2, "matrix tensor <attribute>");
        checkTensorName(root, name);
        s.matrixRoute = { kind, name };
        return { values: [kind, name] };
      }
      const sampleRate = number(a, 2, "sample rate");
      noMore(a, 3, "matrix buffer <name> <sample_rate>");
      checkBufferName(root, name);
      if (!Number.isInteger(sampleRate) || sampleRate <= 0) throw new BendingError(`buffer ${name}: the sample rate must be a positive int, got ${sampleRate}`);
      s.matrixRoute = { kind, name, sampleRate };
      return { values: [kind, name, sampleRate] };
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
