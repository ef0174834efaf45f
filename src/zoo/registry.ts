// Architectures by name, so that a saved model folder can say which module to build
// before its weights are loaded ("audio-decoder", "image-decoder", "stanley").
import { BendingError } from "../errors.js";
import type { Module } from "../nn/module.js";

export type ArchitectureOptions = Record<string, number | string | boolean>;
type Factory = (options: ArchitectureOptions) => Module;

const factories = new Map<string, Factory>();
const built = new WeakMap<Module, { name: string; options: ArchitectureOptions }>();

export function registerArchitecture(name: string, factory: Factory): void {
  factories.set(name, factory);
}

export function architectures(): string[] {
  return [...factories.keys()];
}

/** Builds a registered architecture (and remembers which, for tb.save). */
export function createModule(name: string, options: ArchitectureOptions = {}): Module {
  const factory = factories.get(name);
  if (!factory) throw new BendingError(`unknown architecture '${name}' (known: ${architectures().join(", ") || "none"})`);
  const module = factory(options);
  built.set(module, { name, options });
  return module;
}

export function architectureOf(module: Module): { name: string; options: ArchitectureOptions } | undefined {
  return built.get(module);
}
