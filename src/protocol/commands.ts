// The command vocabulary and what each command does beyond its reply, declared once: the
// session declicks after output changes, the engine announces changes to every client,
// and the panel logs what is not a query. control/commands.ts implements these names.
import type { Atom } from "./atoms.js";

/**
 * - query: reads only; nobody else is told, the output does not move.
 * - action: does something nobody else needs to hear of (render writes a file).
 * - announce: changes state every client hears of (stream start, the latent input).
 * - output: changes what the model outputs: announced, and the stream's next block is declicked.
 */
export type CommandEffect = "query" | "action" | "announce" | "output";

export const COMMAND_EFFECTS = {
  help: "query",
  models: "query",
  load: "output",
  method: "output",
  trace: "announce",
  weights: "query",
  activations: "query",
  graph: "query",
  bend: "output",
  unbend: "output",
  reset: "output",
  bendings: "query",
  cluster: "output",
  clusters: "query",
  controls: "query",
  // the modulators (control/modulator-commands.ts)
  lfo: "output",
  env: "announce",
  trigger: "output",
  follow: "output",
  set: "output",
  get: "query",
  write: "output",
  version: "output",
  versions: "query",
  interpolate: "output",
  config: "output",
  input: "announce",
  render: "action",
  export: "action",
  stream: "announce",
  enable: "announce",
  status: "query",
  dump: "query",
  // nn~'s tensor and buffer attributes, and voices (control/attributes.ts, control/voices.ts)
  attributes: "query",
  tensor: "output",
  buffer: "output",
  buffers: "query",
  matrix: "announce",
  voices: "output",
  voice: "announce",
  // the panel's (control/panel-commands.ts)
  weightstats: "query",
  histogram: "query",
  peek: "query",
  ahead: "action",
  callbacks: "query",
  state: "query",
  clustermaps: "query",
} as const satisfies Record<string, CommandEffect>;

export type CommandName = keyof typeof COMMAND_EFFECTS;

/**
 * Commands whose bare form (no arguments) only reads: `method` lists the methods, `version`
 * says which version is in use, `matrix` where Jitter matrices go. With arguments they have their declared effect.
 */
export const QUERY_WHEN_BARE: ReadonlySet<CommandName> = new Set<CommandName>(["method", "version", "matrix"]);

export function isCommandName(name: string): name is CommandName {
  return Object.prototype.hasOwnProperty.call(COMMAND_EFFECTS, name);
}

/**
 * The effect of a command called with `args` (undefined: not a command): its declared
 * effect, or "query" for the bare form of a command in QUERY_WHEN_BARE. Without `args`,
 * the declared effect.
 */
export function commandEffect(name: string, args?: readonly Atom[]): CommandEffect | undefined {
  if (!isCommandName(name)) return undefined;
  return args !== undefined && args.length === 0 && QUERY_WHEN_BARE.has(name) ? "query" : COMMAND_EFFECTS[name];
}

/** Whether every client hears of this command (called with `args`) when it succeeds. */
export function announces(name: string, args?: readonly Atom[]): boolean {
  const effect = commandEffect(name, args);
  return effect === "announce" || effect === "output";
}

/** Whether this command, when it succeeds, changes what the model outputs (the stream declicks). */
export function changesOutput(name: string, args?: readonly Atom[]): boolean {
  return commandEffect(name, args) === "output";
}

/** Whether this command (called with `args`) only reads. */
export function isQuery(name: string, args?: readonly Atom[]): boolean {
  return commandEffect(name, args) === "query";
}

/**
 * Whether every client hears of a reply: a success of a command that announces, unless the
 * reply says its call was a query (the bare form of a command in QUERY_WHEN_BARE).
 */
export function replyAnnounces(reply: { command: string; ok: boolean; effect?: CommandEffect }): boolean {
  if (!reply.ok) return false;
  const effect = reply.effect ?? commandEffect(reply.command);
  return effect === "announce" || effect === "output";
}
