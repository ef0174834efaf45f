// The command vocabulary and what each command does beyond its reply, declared once: the
// session declicks after output changes, the engine announces changes to every client,
// and the panel logs what is not a query. control/commands.ts implements these names.

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
  voices: "output",
  voice: "announce",
  // the panel's (control/panel-commands.ts)
  weightstats: "query",
  histogram: "query",
  peek: "query",
  callbacks: "query",
  state: "query",
} as const satisfies Record<string, CommandEffect>;

export type CommandName = keyof typeof COMMAND_EFFECTS;

export function isCommandName(name: string): name is CommandName {
  return Object.prototype.hasOwnProperty.call(COMMAND_EFFECTS, name);
}

/** The declared effect of a command (undefined: not a command). */
export function commandEffect(name: string): CommandEffect | undefined {
  return isCommandName(name) ? COMMAND_EFFECTS[name] : undefined;
}

/** Whether every client hears of this command when it succeeds. */
export function announces(name: string): boolean {
  const effect = commandEffect(name);
  return effect === "announce" || effect === "output";
}

/** Whether this command, when it succeeds, changes what the model outputs (the stream declicks). */
export function changesOutput(name: string): boolean {
  return commandEffect(name) === "output";
}

/** Whether this command only reads. */
export function isQuery(name: string): boolean {
  return commandEffect(name) === "query";
}
