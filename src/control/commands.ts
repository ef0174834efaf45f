// THE command table: the one language every transport speaks. A command is a word and
// atoms; each entry checks its atoms, acts on the session through CommandContext, and
// returns the reply's values (and a dict of metadata for Max and JSON clients). What each
// command changes is declared in protocol/commands.ts.
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { BendingError } from "../errors.js";
import { formatRecordedShape } from "../graph/graph.js";
import type { Atom, BendingInfo, ControlInfo, GraphDict, GraphNode } from "../protocol/index.js";
import { writeFileNoFollow } from "../formats/paths.js";
import { DEFAULT_WALK_SPEED } from "./latent-walk.js";
import { saveTorchScript } from "../load/torchscript-export.js";
import { TorchScriptModule } from "../torchscript/module.js";
import { DEFAULT_VERSION } from "../bended/versions.js";
import type { AttributeValue } from "../nn/method-spec.js";
import { finiteOr, noMore, number, optionalSymbol, plainName, symbol } from "./command-args.js";
import { callbackFromAtoms } from "./callback-atoms.js";
import { tensorAttributeNames, tensorAttributeShape } from "./attributes.js";
import { CommandTable, type CommandContext, type CommandSpec } from "./command-table.js";
import { moveControl } from "./control-change.js";
import { MODULATOR_COMMANDS } from "./modulator-commands.js";

export type { CommandContext, CommandSpec, CommandResult } from "./command-table.js";

/**
 * What `set`/`get` address: a live control or an nn~ attribute. A name that is both is an
 * error unless written `control:<name>` or `attribute:<name>`.
 */
function controlOrAttribute(s: CommandContext, word: string): { kind: "control" | "attribute"; name: string } {
  const prefixed = /^(control|attribute):(.+)$/.exec(word);
  if (prefixed) return { kind: prefixed[1] as "control" | "attribute", name: prefixed[2] };
  const isControl = s.requireModel().controls().some((c) => c.name === word);
  const isAttribute = s.attributeNames().includes(word);
  if (isControl && isAttribute) {
    throw new BendingError(`'${word}' is both a live control and an attribute of model '${s.modelName}'; write 'control:${word}' or 'attribute:${word}'`);
  }
  return { kind: isAttribute ? "attribute" : "control", name: word };
}

/** An attribute value as a reply atom (booleans as 0/1, as Max shows them). */
function atomOf(v: boolean | number | string): Atom {
  return typeof v === "boolean" ? (v ? 1 : 0) : v;
}

function shapeAtoms(shape: number[] | number[][] | null): string {
  return formatRecordedShape(shape).replace(/\s/g, "");
}

/**
 * The whole dump as flat atoms, for clients without dicts (OSC, Pd): `<name> <value>` pairs,
 * status first; a list is one comma-separated symbol; attributes and controls are
 * `attribute:<name> <value>` and `control:<name> <value>`.
 */
function dumpAtoms(dump: {
  status: Record<string, Atom>; methods: string[]; nn_methods: { name: string }[];
  attributes: { name: string; value: AttributeValue }[]; weights: string[]; controls: { name: string; value: number }[]; versions: string[];
}): Atom[] {
  const list = (names: string[]) => (names.length ? names.join(",") : "none");
  const value = (v: AttributeValue): Atom => (Array.isArray(v) ? v.map(String).join(",") : atomOf(v));
  return [
    ...Object.entries(dump.status).flat(),
    "methods", list(dump.methods),
    "nn_methods", list(dump.nn_methods.map((m) => m.name)),
    "weights", dump.weights.length,
    "version_names", list(dump.versions),
    ...dump.attributes.flatMap((x) => [`attribute:${x.name}`, value(x.value)]),
    ...dump.controls.flatMap((c) => [`control:${c.name}`, c.value]),
  ];
}

// --- the table ---------------------------------------------------------------------

export const CORE_COMMANDS: readonly CommandSpec[] = [
  {
    name: "help",
    usage: "help",
    help: "list the commands",
    run: (s, a) => {
      noMore(a, 0, "help");
      return { values: [...s.commands.keys()], dict: [...s.commands.values()].map((c) => ({ command: c.name, usage: c.usage, help: c.help })) };
    },
  },
  {
    name: "models",
    usage: "models",
    help: "list the shipped and workspace models",
    run: (s, a) => {
      noMore(a, 0, "models");
      return { values: s.availableModels() };
    },
  },
  {
    name: "load",
    usage: "load <model> [<method>]",
    help: "load a model by name (see 'models') or by a path inside the workspace, streaming <method> (default: the model's own); a stream keeps playing across the switch",
    run: async (s, a) => {
      const name = symbol(a, 0, "model");
      const method = a.length > 1 ? symbol(a, 1, "method") : undefined;
      noMore(a, 2, "load <model> [<method>]");
      await s.loadModel(name, method);
      return { values: [name, s.kind] };
    },
  },
  {
    name: "method",
    usage: "method [<fn>]",
    help: "choose the method the stream runs (nn~'s method); without a name, list the methods: name in_channels in_ratio out_channels out_ratio ...",
    run: (s, a) => {
      noMore(a, 1, "method [<fn>]");
      const fn = optionalSymbol(a, 0, "method");
      if (fn === undefined) {
        const methods = s.methods();
        s.requireModel();
        return {
          values: methods.length ? methods.flatMap((m) => [m.name, m.inChannels, m.inRatio, m.outChannels, m.outRatio]) : s.requireModel().tracedMethods(),
          dict: { method: s.method, methods },
        };
      }
      s.checkNotRendering("method");
      const spec = s.selectMethod(fn);
      return {
        values: spec ? [fn, spec.inChannels, spec.inRatio, spec.outChannels, spec.outRatio, s.blockSamples] : [fn],
        dict: spec ? { ...spec, block: s.blockSamples } : { name: fn },
      };
    },
  },
  {
    name: "trace",
    usage: "trace [fn]",
    help: "trace a method with the model's declared example input (without a name: the method the stream runs)",
    run: (s, a) => {
      const fn = optionalSymbol(a, 0, "method") ?? s.method;
      noMore(a, 1, "trace [fn]");
      const graph = s.requireModel().trace(fn);
      return { values: [fn, graph.nodes.length] };
    },
  },
  {
    name: "weights",
    usage: "weights",
    help: "list the weights (dict: name and shape)",
    run: (s, a) => {
      noMore(a, 0, "weights");
      const m = s.requireModel();
      return { values: m.weightNames, dict: m.weightNames.map((name) => ({ name, shape: m.weightShape(name) })) };
    },
  },
  {
    name: "activations",
    usage: "activations [fn]",
    help: "list the activations of a traced method (dict: name, op, shape)",
    run: (s, a) => {
      const fn = optionalSymbol(a, 0, "method") ?? s.method;
      const graph = s.requireModel().graph(fn);
      noMore(a, 1, "activations [fn]");
      const nodes = graph.activationNodes();
      return { values: nodes.map((n) => n.name), dict: nodes.map((n) => ({ name: n.name, op: n.op, shape: shapeAtoms(n.shape) })) };
    },
  },
  {
    name: "graph",
    usage: "graph [fn]",
    help: "the traced graph of a method (dict: nodes with op, target, inputs, shape, bended)",
    run: (s, a) => {
      const fn = optionalSymbol(a, 0, "method") ?? s.method;
      noMore(a, 1, "graph [fn]");
      const model = s.requireModel();
      const bent = new Set(model.bendGraph(fn).nodes.filter((n) => n.name.includes("_bended")).map((n) => n.inputNodes()[0]?.name));
      const nodes = model.graph(fn).nodes.map((n): GraphNode => ({
        name: n.name, op: n.op, target: n.target, inputs: n.inputNodes().map((i) => i.name), shape: shapeAtoms(n.shape), bended: bent.has(n.name),
      }));
      const dict: GraphDict = { method: fn, nodes };
      return { values: [fn, nodes.length], dict };
    },
  },
  {
    name: "bend",
    usage: "bend <pattern> <callback> [<arg> <value>]...",
    help: "bend weights/activations matching a pattern, e.g. 'bend net_3 mask prob 0.4 dim -2'; '@name' binds an argument to a control",
    run: (s, a) => {
      const model = s.requireModel();
      const pattern = symbol(a, 0, "pattern");
      const callback = callbackFromAtoms(model, a.slice(1));
      const handle = model.bend(callback, pattern);
      return { values: [pattern, String(callback), ...handle.targets], dict: { pattern, callback: String(callback), targets: handle.targets } };
    },
  },
  {
    name: "unbend",
    usage: "unbend <pattern>",
    help: "remove the bendings of the targets a pattern matches",
    run: (s, a) => {
      const pattern = symbol(a, 0, "pattern");
      noMore(a, 1, "unbend <pattern>");
      return { values: s.requireModel().unbend(pattern) };
    },
  },
  {
    name: "reset",
    usage: "reset [state]",
    help: "remove every bending; 'reset state' instead restores the model's streaming state (nn~ resetState)",
    run: (s, a) => {
      noMore(a, 1, "reset [state]");
      const what = optionalSymbol(a, 0, "'state'");
      if (what === "state") {
        s.resetState();
        return { values: ["state"] };
      }
      if (what !== undefined) throw new BendingError(`reset takes nothing or 'state', got '${what}'`);
      s.requireModel().reset();
      return {};
    },
  },
  {
    name: "cluster",
    long: true,
    usage: "cluster <activation> <k> [samples <n>] [seed <s>]",
    help: "group an activation's channels by what they draw (k-means over random inputs); bend one with 'cluster <activation>:c0'",
    run: (s, a) => {
      const activation = symbol(a, 0, "activation");
      const k = number(a, 1, "k");
      const options: { samples?: number; seed?: number } = {};
      for (let i = 2; i < a.length; i += 2) {
        const key = symbol(a, i, "'samples' or 'seed'");
        if (key !== "samples" && key !== "seed") throw new BendingError(`cluster takes 'samples <n>' and 'seed <s>', got '${key}'`);
        options[key] = number(a, i + 1, key);
      }
      const clusters = s.requireModel().clusterChannels(activation, { k, ...options, fn: s.method });
      return { values: clusters.map((c) => `${c.name}:${c.channels.length}`), dict: clusters };
    },
  },
  {
    name: "clusters",
    usage: "clusters",
    help: "the channel clusters found so far (dict: name and channels)",
    run: (s, a) => {
      noMore(a, 0, "clusters");
      const clusters = s.requireModel().clusters();
      return { values: clusters.map((c) => c.name), dict: clusters };
    },
  },
  {
    name: "bendings",
    usage: "bendings",
    help: "the current bendings (dict: callback and targets)",
    run: (s, a) => {
      noMore(a, 0, "bendings");
      const config = s.requireModel().bendingConfig();
      const dict = config.callbacks().map((cb): BendingInfo => ({
        callback: String(cb),
        patterns: config.entries.filter((e) => e.callback === cb).map((e) => e.pattern),
      }));
      return { values: config.callbacks().map(String), dict };
    },
  },
  {
    name: "controls",
    usage: "controls",
    help: "list the live controls: name value min max ... (dict: also the modulator moving each, see lfo/env/follow)",
    run: (s, a) => {
      noMore(a, 0, "controls");
      const controls = s.requireModel().controls();
      return {
        values: controls.flatMap((c) => [c.name, c.value, finiteOr(c.range?.[0], "-inf"), finiteOr(c.range?.[1], "inf")]),
        dict: controls.map((c): ControlInfo => {
          const modulator = s.modulators.describe(c.name);
          return { name: c.name, value: c.value, min: finiteOr(c.range?.[0], null), max: finiteOr(c.range?.[1], null), ...(modulator ? { modulator } : {}) };
        }),
      };
    },
  },
  {
    name: "set",
    usage: "set <control|attribute> <value>...",
    help: "move a live control or set an nn~ attribute (takes effect on the next block); a name that is both: 'control:<name>' or 'attribute:<name>'",
    run: (s, a) => {
      const model = s.requireModel();
      const target = controlOrAttribute(s, symbol(a, 0, "control or attribute"));
      if (target.kind === "attribute") {
        const value = s.setAttribute(target.name, a.slice(1));
        return { values: [target.name, ...(Array.isArray(value) ? value : [value]).map(atomOf)] };
      }
      const name = target.name;
      const value = number(a, 1, "value");
      noMore(a, 2, "set <control> <value>");
      const control = model.controls().find((c) => c.name === name);
      if (control === undefined) model.update(name, value); // throws: unknown control (the error lists them)
      else moveControl(s, control, value);
      s.modulators.stop(name); // a control that is set stops moving by itself
      return { values: [name, value] };
    },
  },
  {
    name: "get",
    usage: "get <control|attribute>",
    help: "read a live control or an nn~ attribute (a tensor attribute answers its shape)",
    run: (s, a) => {
      s.requireModel();
      const word = symbol(a, 0, "control or attribute");
      noMore(a, 1, "get <control|attribute>");
      const tensorName = word.replace(/^attribute:/, "");
      const isControl = word === tensorName && s.requireModel().controls().some((c) => c.name === word);
      if (tensorAttributeNames(s).includes(tensorName) && !isControl) return { values: tensorAttributeShape(s, tensorName) };
      const target = controlOrAttribute(s, word);
      if (target.kind === "attribute") {
        const value = s.getAttribute(target.name);
        return { values: [target.name, ...(Array.isArray(value) ? value : [value]).map(atomOf)] };
      }
      const name = target.name;
      const controls = s.requireModel().controls();
      const control = controls.find((c) => c.name === name);
      if (!control) {
        const list = (names: string[]) => (names.length ? names.join(", ") : "none");
        throw new BendingError(`unknown control '${name}' of model '${s.modelName}' (controls: ${list(controls.map((c) => c.name))}; attributes: ${list(s.attributeNames())})`);
      }
      return { values: [name, control.value] };
    },
  },
  {
    name: "write",
    usage: "write <version>",
    help: "store the current weight bendings as a version and switch to it",
    run: (s, a) => {
      const name = plainName(symbol(a, 0, "version"), "version");
      noMore(a, 1, "write <version>");
      s.requireModel().write(name);
      return { values: [name] };
    },
  },
  {
    name: "version",
    usage: "version [<name>|default] | version delete <name>",
    help: "switch version (no argument: say which one is in use), or delete a stored one",
    run: (s, a) => {
      const model = s.requireModel();
      if (a.length === 2 && a[0] === "delete") {
        const victim = symbol(a, 1, "version to delete");
        model.deleteVersion(victim === "default" ? DEFAULT_VERSION : victim);
        return { values: ["delete", victim] };
      }
      noMore(a, 1, "version [<name>|default] | version delete <name>");
      const name = optionalSymbol(a, 0, "version");
      if (name !== undefined) {
        s.changeWithCrossfade(() => {
          model.version = name === "default" ? null : name;
          return true;
        });
      }
      // The default version is 'default' to users (what they type), never its stored name.
      return { values: [model.version === DEFAULT_VERSION ? "default" : model.version] };
    },
  },
  {
    name: "versions",
    usage: "versions",
    help: "list the versions",
    run: (s, a) => {
      noMore(a, 0, "versions");
      return { values: s.requireModel().versionNames() };
    },
  },
  {
    name: "interpolate",
    usage: "interpolate <version> <weight> [<version> <weight>]...",
    help: "use the normalised weighted average of versions' weights",
    run: (s, a) => {
      if (a.length === 0 || a.length % 2 !== 0) throw new BendingError("usage: interpolate <version> <weight> [<version> <weight>]...");
      const weights: Record<string, number> = {};
      for (let i = 0; i < a.length; i += 2) {
        const name = symbol(a, i, "version");
        weights[name === "default" ? "_default" : name] = number(a, i + 1, `weight of ${name}`);
      }
      const model = s.requireModel();
      s.changeWithCrossfade(() => {
        model.interpolate(weights);
        return true;
      });
      return { values: a };
    },
  },
  {
    name: "config",
    usage: "config save|load <name>",
    help: "save the current bendings as a named preset (also to configs/<name>.json), or load one",
    run: async (s, a) => {
      const action = symbol(a, 0, "save or load");
      const name = plainName(symbol(a, 1, "name"), "config");
      noMore(a, 2, "config save|load <name>");
      const model = s.requireModel();
      if (action === "save") {
        // The file first: a preset that could not be written is not added either.
        const path = s.resolvePath(join("configs", `${name}.json`));
        mkdirSync(dirname(path), { recursive: true });
        await writeFileNoFollow(path, JSON.stringify(model.bendingConfig().toJSON(), null, 2));
        model.saveConfigAs(name);
        return { values: ["save", name] };
      }
      if (action === "load") {
        if (model.configNames().includes(name)) model.setConfig(name);
        else model.setConfig(s.loadConfigFile(name));
        return { values: ["load", name] };
      }
      throw new BendingError(`config takes 'save' or 'load', got '${action}'`);
    },
  },
  {
    name: "input",
    usage: "input <latent values...> | input walk [speed] | input hold | input random",
    help: `the latent the stream and renders decode: fixed values (one per latent dimension), a slow random walk over the model's latent statistics (the default; speed in 1/s, default ${DEFAULT_WALK_SPEED}), hold where the walk is, or a random latent that fits the model (one of its anchors, else a draw from its latent statistics, else N(0, 1)), held`,
    run: (s, a) => {
      if (a[0] === "walk") {
        noMore(a, 2, "input walk [speed]");
        s.walkLatent(a[1] === undefined ? DEFAULT_WALK_SPEED : number(a, 1, "walk speed"));
        return { values: ["walk", s.walk!.speed] };
      }
      if (a[0] === "hold") {
        noMore(a, 1, "input hold");
        s.holdLatent();
        return { values: ["hold", ...s.latent] };
      }
      if (a[0] === "random") {
        noMore(a, 1, "input random");
        return { values: ["random", ...s.randomLatent()] };
      }
      if (a.length === 0) throw new BendingError("missing latent values; usage: input <latent values...> | input walk [speed] | input hold | input random");
      s.setLatent(a.map((_, i) => number(a, i, `latent value ${i + 1}`)));
      return { values: [a.length] };
    },
  },
  {
    name: "render",
    usage: "render <file.wav> <seconds> | render <in.wav> <out.wav> | render <file.png>",
    help: "render to a file in the workspace (WAV for audio, PNG for images); with a sound file, through the current method (one that takes audio, e.g. forward), as streaming the file would",
    run: async (s, a) => {
      const file = symbol(a, 0, "file");
      if (typeof a[1] === "string") {
        const out = symbol(a, 1, "output file");
        noMore(a, 2, "render <in.wav> <out.wav>");
        return { values: [await s.renderAudio(file, out)] };
      }
      const seconds = s.kind === "image" ? 0 : number(a, 1, "seconds");
      noMore(a, s.kind === "image" ? 1 : 2, "render <file.wav> <seconds> | render <file.png>");
      const path = await s.render(file, seconds);
      return { values: [path] };
    },
  },
  {
    name: "export",
    usage: "export <file.ts>",
    help: "write the model (read from a TorchScript file) as a TorchScript file in the workspace, its weights as they play now, for nn~ and PyTorch",
    run: async (s, a) => {
      const file = symbol(a, 0, "file");
      noMore(a, 1, "export <file.ts>");
      if (!/\.(ts|pt)$/i.test(file)) throw new BendingError(`export writes a TorchScript file: export <name>.ts, got '${file}'`);
      const model = s.requireModel();
      if (!(model.module instanceof TorchScriptModule)) throw new BendingError(`model '${s.modelName}' was not read from a TorchScript file: export writes back nn~ / TorchScript models only (save a tfbend model with 'config save' and 'write')`);
      const path = s.resolvePath(file);
      mkdirSync(dirname(path), { recursive: true });
      const report = await saveTorchScript(model, path);
      return { values: [path, ...report.written] };
    },
  },
  {
    name: "stream",
    usage: "stream start|stop",
    help: "start or stop streaming output blocks",
    run: (s, a) => {
      const action = symbol(a, 0, "start or stop");
      noMore(a, 1, "stream start|stop");
      if (action === "start") s.startStream();
      else if (action === "stop") s.stopStream();
      else throw new BendingError(`stream takes 'start' or 'stop', got '${action}'`);
      return { values: [action] };
    },
  },
  {
    name: "enable",
    usage: "enable 0|1",
    help: "nn~'s enable: 1 streams, 0 stops",
    run: (s, a) => {
      const on = number(a, 0, "0 or 1");
      noMore(a, 1, "enable 0|1");
      if (on !== 0 && on !== 1) throw new BendingError(`enable takes 0 or 1, got ${on}`);
      if (on) s.startStream();
      else s.stopStream();
      return { values: [on ? 1 : 0] };
    },
  },
  {
    name: "status",
    usage: "status",
    help: "backend, model, block size, latency, RTF p50/p95, dropped blocks",
    run: (s, a) => {
      noMore(a, 0, "status");
      const st = s.status();
      return { values: Object.entries(st).flat(), dict: st };
    },
  },
  {
    name: "dump",
    usage: "dump",
    help: "nn~'s dump: model, methods, weights, controls and status as a dict",
    run: (s, a) => {
      noMore(a, 0, "dump");
      const model = s.bended;
      const dict = {
        status: s.status(),
        methods: model?.tracedMethods() ?? [],
        nn_methods: s.methods(),
        attributes: s.attributeNames().map((name) => ({ name, value: s.getAttribute(name) })),
        weights: model?.weightNames ?? [],
        controls: model?.controls().map((c) => ({ name: c.name, value: c.value })) ?? [],
        versions: model?.versionNames() ?? [],
      };
      return { values: dumpAtoms(dict), dict };
    },
  },
  ...MODULATOR_COMMANDS,
];

/** The core table (every transport's commands; sessions add the panel's, see command-tables.ts). */
export const COMMANDS: CommandTable = new CommandTable().register(...CORE_COMMANDS);
