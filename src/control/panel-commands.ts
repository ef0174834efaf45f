// Commands the browser panel needs beyond the core table: weight statistics and
// histograms (original vs. as the next pass uses them), activation values for the
// current input (original vs. bended), the callbacks with their arguments, and the
// session state. All are queries: they change nothing, so no client is told about them.
// A session's table holds them (registerPanelCommands).
import { BendingError } from "../errors.js";
import { tf, type Tensor } from "../tf.js";
import { withFrozenState } from "../nn/module.js";
import { callbackArguments, callbackFromJSON, registeredCallbacks, type CallbackJSON } from "../bending/callback.js";
import { BendingParameter } from "../bending/parameter.js";
import type { BendedModule } from "../bended/bended-module.js";
import type { ActivationLayout, ActivationView, CallbackInfo, HistogramDict, PeekItem, SessionState, WeightRow, WeightStatsDict } from "../protocol/index.js";
import { finiteOr, noMore, number, symbol } from "./command-args.js";
import { clusterMeans } from "../bended/clusters.js";
import type { CommandContext, CommandSpec, CommandTable } from "./command-table.js";
import { statistics, type Stats } from "../util/stats.js";

/** Counts of `values` in `bins` equal bins over [lo, hi] (the last bin includes hi). */
export function histogram(values: ArrayLike<number>, bins: number, lo: number, hi: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  const width = hi > lo ? (hi - lo) / bins : 1;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v >= lo && v <= hi)) continue;
    counts[Math.min(bins - 1, Math.floor((v - lo) / width))]++;
  }
  return counts;
}

/** Four significant digits: enough for a plot, a quarter of the JSON. */
function round(v: number): number {
  return Number.isFinite(v) ? Number(v.toPrecision(4)) : 0;
}

function roundStats(s: Stats): Stats {
  return { min: round(s.min), max: round(s.max), mean: round(s.mean), std: round(s.std) };
}

/** Weight names that a weight bending currently targets. */
function bentWeights(model: BendedModule): Set<string> {
  const weights = new Set(model.weightNames);
  const out = new Set<string>();
  for (const entry of model.bendingConfig().entries) {
    let keys: string[] = [];
    try {
      keys = model.resolvePattern(entry.pattern);
    } catch {
      // a pattern that no longer resolves names nothing
    }
    for (const k of keys) if (weights.has(k)) out.add(k);
  }
  return out;
}

/** Whether two weight values differ anywhere (an interpolation may copy a weight unchanged). */
function differ(a: Float32Array, b: Float32Array): boolean {
  if (a === b) return false;
  if (a.length !== b.length) return true;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return true;
  return false;
}

interface PairStats {
  before: Stats;
  after: Stats;
  changed: boolean;
}

/**
 * Statistics by tensor, and whether two tensors differ by pair: tensors never change, so a page
 * that asks again (every panel load, every weight change) reads only the weights that moved, not
 * the whole model (120 ms for a RAVE-sized decoder) on the inference thread.
 */
const tensorStatsCache = new WeakMap<Tensor, Stats>();
const differCache = new WeakMap<Tensor, WeakMap<Tensor, boolean>>();

async function tensorStats(t: Tensor): Promise<Stats> {
  let stats = tensorStatsCache.get(t);
  if (stats === undefined) tensorStatsCache.set(t, (stats = statistics((await t.data()) as Float32Array)));
  return stats;
}

async function pairStats(a: Tensor, b: Tensor): Promise<PairStats> {
  const sa = await tensorStats(a);
  const before = roundStats(sa);
  if (a === b) return { before, after: before, changed: false };
  const sb = await tensorStats(b);
  let changed = differCache.get(a)?.get(b);
  if (changed === undefined) {
    // different statistics settle it; equal ones need the values compared (a Scale of 1)
    const same = sa.min === sb.min && sa.max === sb.max && sa.mean === sb.mean && sa.std === sb.std;
    changed = !same || differ((await a.data()) as Float32Array, (await b.data()) as Float32Array);
    let byB = differCache.get(a);
    if (byB === undefined) differCache.set(a, (byB = new WeakMap()));
    byB.set(b, changed);
  }
  return { before, after: changed ? roundStats(sb) : before, changed };
}

/** The original tensor and the one the next pass uses (the same object when unchanged). */
function weightPair(model: BendedModule, name: string, original: Record<string, Tensor>, current: Record<string, Tensor>): [Tensor, Tensor] {
  const a = original[name];
  const b = current[name];
  if (a === undefined || b === undefined) throw new BendingError(`unknown weight '${name}'`);
  return [a, b];
}

// --- activations ------------------------------------------------------------------------

const MAX_WAVE = 2048;
const MAX_ROWS = 128;
const MAX_COLS = 256;
const MAX_TILES = 16;
const MAX_SIDE = 64;

/** Picks, for each of `n` bins of a row, the sample with the largest magnitude (keeps peaks). */
function peakBins(src: Float32Array, offset: number, length: number, n: number, out: number[]): void {
  if (length <= n) {
    for (let i = 0; i < length; i++) out.push(round(src[offset + i]));
    return;
  }
  for (let b = 0; b < n; b++) {
    const start = Math.floor((b * length) / n);
    const end = Math.max(start + 1, Math.floor(((b + 1) * length) / n));
    let best = src[offset + start];
    for (let i = start + 1; i < end; i++) if (Math.abs(src[offset + i]) > Math.abs(best)) best = src[offset + i];
    out.push(round(best));
  }
}

/** A tensor of the first batch element as a wave (1-D), heat map (channels × time) or images (channels × H × W). */
export function activationView(values: Float32Array, shape: number[]): ActivationView {
  const s = shape.length > 1 ? shape.slice(1) : shape; // drop the batch axis
  const data: number[] = [];
  let layout: ActivationLayout;
  let dims: number[];
  let note = "";
  if (s.length === 3) {
    // (C, H, W) as tfbend's modules use; (H, W, C) when the first two agree and the last
    // does not (TF.js GraphModels and LayersModels are channels-last).
    const last = s[0] === s[1] && s[2] !== s[0];
    const [c, h, w] = last ? [s[2], s[0], s[1]] : s;
    const at = last ? (ch: number, y: number, x: number) => (y * w + x) * c + ch : (ch: number, y: number, x: number) => (ch * h + y) * w + x;
    const tiles = Math.min(c, MAX_TILES);
    const sh = Math.max(1, Math.ceil(h / MAX_SIDE));
    const sw = Math.max(1, Math.ceil(w / MAX_SIDE));
    const oh = Math.ceil(h / sh), ow = Math.ceil(w / sw);
    for (let ch = 0; ch < tiles; ch++) {
      for (let y = 0; y < h; y += sh) for (let x = 0; x < w; x += sw) data.push(round(values[at(ch, y, x)]));
    }
    layout = "image";
    dims = [tiles, oh, ow];
    if (last) note = "channels last";
    if (tiles < c) note += `${note ? ", " : ""}channels 0–${tiles - 1} of ${c}`;
    if (sh > 1 || sw > 1) note += `${note ? ", " : ""}${h}×${w} shown at ${oh}×${ow}`;
  } else if (s.length === 2 && s[0] > 1) {
    const [c, t] = s;
    const step = Math.max(1, Math.ceil(c / MAX_ROWS));
    const cols = Math.min(t, MAX_COLS);
    let rows = 0;
    for (let ch = 0; ch < c; ch += step, rows++) peakBins(values, ch * t, t, cols, data);
    layout = "heat";
    dims = [rows, cols];
    if (step > 1) note = `1 channel in ${step}`;
    if (cols < t) note += `${note ? ", " : ""}${t} steps in ${cols} columns (peaks)`;
  } else {
    const n = values.length / Math.max(1, shape.length > 1 ? shape[0] : 1);
    const cols = Math.min(n, MAX_WAVE);
    peakBins(values, 0, n, cols, data);
    layout = "wave";
    dims = [cols];
    if (cols < n) note = `${n} values in ${cols} points (peaks)`;
  }
  let min = Infinity, max = -Infinity;
  for (const v of data) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (data.length === 0) min = max = 0;
  return { layout, dims, note, data, min, max };
}

/** The input the stream decodes now (audio: the latent held over one block), or the traced example. */
function currentInput(s: CommandContext, model: BendedModule): Tensor[] {
  const z = s.latent.length;
  const spec = s.methodSpec();
  if (spec && spec.inRatio === 1) return [tf.zeros([1, spec.inChannels, s.blockSamples])];
  if (z > 0 && s.kind === "audio") {
    const frames = s.blockFrames;
    const data = new Float32Array(z * frames);
    for (let c = 0; c < z; c++) data.fill(s.latent[c], c * frames, (c + 1) * frames);
    return [tf.tensor(data, [1, z, frames])];
  }
  if (z > 0 && s.kind === "image") return [tf.tensor([s.latent], [1, z])];
  const shapes = model.exampleShapes.get(s.method);
  if (!shapes) throw new BendingError(`no example input for '${s.method}'; trace it first`);
  return shapes.map((shape) => tf.zeros(shape));
}

// --- the commands -----------------------------------------------------------------------

/** Longest render-ahead a client may ask for (`ahead`): a page load, not a way to add latency for good. */
const MAX_AHEAD_MS = 10_000;

export const PANEL_COMMANDS: readonly CommandSpec[] = [
  {
    name: "weightstats",
    long: true,
    usage: "weightstats",
    help: "statistics of every weight, original and as the next pass uses it (dict: name, shape, size, bended, changed, original, current)",
    run: async (s) => {
      const model = s.requireModel();
      const original = model.stateDict();
      const current = model.bendedStateDict();
      const bent = bentWeights(model);
      const pairs = model.weightNames.map((name) => [name, ...weightPair(model, name, original, current)] as const);
      // Only pairs not seen before are read (asynchronously: GPU backends cannot read synchronously in Node).
      const rows = await Promise.all(pairs.map(async ([name, a, b]): Promise<WeightRow> => {
        const { before, after, changed } = await pairStats(a, b);
        return { name, shape: a.shape, size: a.size, bended: bent.has(name), changed, original: before, current: after };
      }));
      const dict: WeightStatsDict = { version: model.version, interpolation: model.interpolationWeights, weights: rows };
      return { values: [rows.length], dict };
    },
  },
  {
    name: "histogram",
    long: true,
    usage: "histogram <weight> [bins]",
    help: "histogram of a weight, original and as the next pass uses it, over their common range (dict: lo, hi, original, current)",
    run: async (s, a) => {
      const model = s.requireModel();
      const name = symbol(a, 0, "weight");
      const bins = a[1] === undefined ? 64 : Number(a[1]);
      if (!Number.isInteger(bins) || bins < 2 || bins > 512) throw new BendingError("bins is an integer in 2..512");
      if (!model.weightNames.includes(name)) throw new BendingError(`unknown weight '${name}'`);
      const [ta, tb] = weightPair(model, name, model.stateDict(), model.bendedStateDict());
      const va = (await ta.data()) as Float32Array;
      const vb = ta === tb ? va : ((await tb.data()) as Float32Array);
      const changed = differ(va, vb);
      const sa = statistics(va), sb = statistics(vb);
      let lo = Math.min(sa.min, sb.min), hi = Math.max(sa.max, sb.max);
      if (!(hi > lo)) {
        lo -= 0.5;
        hi += 0.5;
      }
      const dict: HistogramDict = {
        name, shape: ta.shape, bins, lo, hi, changed,
        original: histogram(va, bins, lo, hi), current: histogram(vb, bins, lo, hi),
        stats: { original: roundStats(sa), current: roundStats(sb) },
      };
      return { values: [name, bins, round(lo), round(hi)], dict };
    },
  },
  {
    name: "ahead",
    usage: "ahead <ms>",
    help: `the stream keeps 500 ms of blocks (at least 4) rendered ahead for <ms> milliseconds (1 to ${MAX_AHEAD_MS}): a burst of CPU beside it on this machine (a browser loading the panel) then delays no block; controls moved meanwhile are heard up to that much later. 0 when nothing streams on a clock`,
    run: (s, a) => {
      noMore(a, 1, "ahead <ms>");
      const ms = number(a, 0, "ms");
      if (!Number.isInteger(ms) || ms < 1 || ms > MAX_AHEAD_MS) throw new BendingError(`ms is an integer in 1..${MAX_AHEAD_MS}, got ${ms}`);
      return { values: [s.renderAheadFor(ms) ? 1 : 0] };
    },
  },
  {
    name: "peek",
    usage: "peek <activation>...",
    help: "values of activations for the current input: original model vs. bended (after the node's own bending), reduced for display",
    run: async (s, a) => {
      const model = s.requireModel();
      if (a.length === 0) throw new BendingError("usage: peek <activation>...");
      if (a.length > 8) throw new BendingError("peek takes at most 8 activations");
      const names = a.map((_, i) => symbol(a, i, "activation"));
      const known = new Set(model.activationNames(s.method));
      for (const n of names) if (!known.has(n)) throw new BendingError(`'${n}' is not an activation of ${s.method}`);
      // While audio streams, the next block's own pass captures the values (before and after
      // each node's bending): the peek costs the stream no extra pass and runs nothing itself.
      const streamed = await s.peekNextBlock(names);
      if (streamed && names.every((n) => streamed.values[n] && streamed.values[`${n}_bended`])) {
        const items = names.map((name): PeekItem => {
          const o = streamed.values[name], b = streamed.values[`${name}_bended`];
          return { name, shape: o.shape, original: activationView(o.data, o.shape), bended: activationView(b.data, b.shape) };
        });
        return { values: names, dict: { method: s.method, source: "stream", items } };
      }
      const inputs = currentInput(s, model);
      try {
        // Frozen: streaming caches and BatchNorm statistics are read, never advanced.
        const [orig, bent] = withFrozenState(() => {
          const original = model.getActivations(names, inputs, { fn: s.method, bended: false });
          try {
            return [original, model.getActivations(names.map((n) => `${n}_bended`), inputs, { fn: s.method, bended: true })];
          } catch (e) {
            tf.dispose(Object.values(original));
            throw e;
          }
        });
        try {
          const items = await Promise.all(names.map(async (name): Promise<PeekItem> => {
            const o = orig[name], b = bent[`${name}_bended`];
            return {
              name, shape: o.shape,
              original: activationView((await o.data()) as Float32Array, o.shape),
              bended: activationView((await b.data()) as Float32Array, b.shape),
            };
          }));
          return { values: names, dict: { method: s.method, source: "run", items } };
        } finally {
          tf.dispose([...Object.values(orig), ...Object.values(bent)]);
        }
      } finally {
        tf.dispose(inputs);
      }
    },
  },
  {
    name: "callbacks",
    usage: "callbacks",
    help: "the bending callbacks 'bend' accepts, with their arguments and defaults (dict)",
    run: () => {
      const resolver = (p: { control: string; value: number }) => new BendingParameter(p.control, p.value);
      type ArgInfo = CallbackInfo["args"][number];
      const out: CallbackInfo[] = [];
      for (const type of registeredCallbacks()) {
        if (type === "Lambda" || type === "Chain") continue;
        const make = (args: Record<string, number>) => callbackFromJSON({ type, args, seed: 0 } as CallbackJSON, resolver);
        let callback;
        let withDim;
        try {
          withDim = make({ dim: -1 });
        } catch {
          withDim = undefined;
        }
        try {
          callback = make({});
        } catch {
          callback = withDim;
        }
        if (!callback) continue; // needs arguments a message cannot give (lists)
        const specs = callbackArguments(type);
        // the declared domain, so the panel's form and sliders show it
        const domain = (name: string) => ({ min: finiteOr(specs[name]?.min, null), max: finiteOr(specs[name]?.max, null) });
        const args: ArgInfo[] = [];
        for (const [name, value] of Object.entries(callback.toJSON().args)) {
          if (typeof value === "number" || typeof value === "string") args.push({ name, value, ...domain(name) });
        }
        if (withDim && "dim" in withDim.toJSON().args && !args.some((x) => x.name === "dim")) args.push({ name: "dim", value: "", ...domain("dim") });
        out.push({ type, weight: callback.weightCompatible, activation: callback.activationCompatible, args });
      }
      return { values: out.map((c) => c.type), dict: out };
    },
  },
  {
    name: "state",
    usage: "state",
    help: "the session as the panel shows it: model, kind, method, traced methods, latent, version, interpolation, streaming",
    run: (s) => {
      const model = s.bended;
      const dict: SessionState = {
        model: s.modelName || null,
        kind: s.kind,
        method: s.method,
        methods: model?.tracedMethods() ?? [],
        latent: s.latent,
        blockFrames: s.blockFrames,
        version: model?.version ?? null,
        versions: model?.versionNames() ?? [],
        interpolation: model?.interpolationWeights ?? null,
        streaming: s.streaming,
        configs: model?.configNames() ?? [],
      };
      return { values: [s.modelName || "none"], dict };
    },
  },
];

/** Adds the panel's commands to `table` (which refuses them if it has them already); returns the table. */
// --- cluster maps: the Bend tab's clusters pane ----------------------------------------

/** Each stored cluster's mean feature map for the current input (the unbent model's). */
export const CLUSTER_MAP_COMMANDS: readonly CommandSpec[] = [
  {
    name: "clustermaps",
    long: true,
    usage: "clustermaps <activation>",
    help: "the clusters of an activation (see 'cluster') and each one's mean feature map for the current input, unbent (dict: activation, clusters, view)",
    run: async (s, a) => {
      const model = s.requireModel();
      const activation = symbol(a, 0, "activation");
      noMore(a, 1, "clustermaps <activation>");
      const clusters = model.clusters().filter((c) => c.name.startsWith(`${activation}:`));
      if (clusters.length === 0) throw new BendingError(`no clusters of '${activation}'; send 'cluster ${activation} <k>' first`);
      const inputs = currentInput(s, model);
      let means: Tensor | null = null;
      try {
        const act = withFrozenState(() => model.getActivations(activation, inputs, { fn: s.method, bended: false }))[activation];
        try {
          means = clusterMeans(act, clusters);
        } finally {
          act.dispose();
        }
        const view = activationView((await means.data()) as Float32Array, means.shape);
        return { values: clusters.map((c) => c.name), dict: { activation, clusters, view } };
      } finally {
        means?.dispose();
        tf.dispose(inputs);
      }
    },
  },
];

export function registerPanelCommands(table: CommandTable): CommandTable {
  return table.register(...PANEL_COMMANDS, ...CLUSTER_MAP_COMMANDS);
}
