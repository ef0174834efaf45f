// tfbend.json, the manifest of a tfbend model folder: its fields, the bounds its numbers are
// checked against, and the check itself (before any file it names is read or allocated).
import { BendingError } from "../errors.js";
import { DEFAULT_VERSION } from "../bended/versions.js";
import type { ArchitectureOptions } from "../zoo/registry.js";

export const MANIFEST = "tfbend.json";

export interface Manifest {
  format: "tfbend";
  version: 1;
  architecture:
    | { kind: "registered"; name: string; options: ArchitectureOptions }
    | { kind: "layers-model"; path: string }
    | { kind: "custom"; className: string };
  /** One .safetensors file, or files by key prefix ({"": "decoder.safetensors", "encoder.": "encoder.safetensors"}). */
  weights: string | Record<string, string>;
  versions: Record<string, string>;
  currentVersion: string;
  interpolation: Record<string, number> | null;
  config: string | null;
  traces: Record<string, number[][]>;
  metadata: Record<string, string>;
}

/** Bounds a manifest's numbers are checked against before anything is allocated. */
export const MANIFEST_LIMITS = {
  /** Bytes of tfbend.json. */
  manifestBytes: 1 << 20,
  /** Bytes of one weights, version, config or layers file. */
  fileBytes: 1 << 30,
  versions: 256,
  traces: 64,
  /** Inputs of one traced method, dimensions of one input, and one dimension's size. */
  inputs: 16,
  dims: 8,
  dimSize: 1 << 20,
  /** Elements of one example input (tracing allocates it). */
  elements: 1 << 22,
  /** Characters of one metadata or option value. */
  valueChars: 4096,
} as const;

type Json = unknown;

function isRecord(v: Json): v is Record<string, Json> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/**
 * A parsed tfbend.json checked field by field, numbers against MANIFEST_LIMITS, before
 * anything is read or allocated; errors name the field, never a file's content.
 */
export function checkManifest(json: Json, source: string): Manifest {
  const fail = (what: string): never => {
    throw new BendingError(`${source}: ${what}`);
  };
  const text = (v: Json, field: string, max: number = MANIFEST_LIMITS.valueChars): string => {
    if (typeof v !== "string" || v === "" || v.length > max) fail(`'${field}' must be a non-empty string of at most ${max} characters`);
    return v as string;
  };
  if (!isRecord(json) || json.format !== "tfbend") fail(`not a tfbend manifest (expected "format": "tfbend")`);
  const m = json as Record<string, Json>;
  const arch = m.architecture;
  if (!isRecord(arch)) return fail(`'architecture' must be an object`);
  let architecture: Manifest["architecture"];
  if (arch.kind === "registered") {
    const options = arch.options ?? {};
    if (!isRecord(options)) return fail(`'architecture.options' must be an object`);
    for (const [key, value] of Object.entries(options)) {
      const ok = typeof value === "boolean" || (typeof value === "number" && Number.isFinite(value) && Math.abs(value) <= MANIFEST_LIMITS.dimSize)
        || (typeof value === "string" && value.length <= MANIFEST_LIMITS.valueChars);
      if (!ok) fail(`'architecture.options.${key.slice(0, 40)}' must be a boolean, a short string or a number of magnitude at most ${MANIFEST_LIMITS.dimSize}`);
    }
    architecture = { kind: "registered", name: text(arch.name, "architecture.name", 200), options: options as ArchitectureOptions };
  } else if (arch.kind === "layers-model") architecture = { kind: "layers-model", path: text(arch.path, "architecture.path") };
  else if (arch.kind === "custom") architecture = { kind: "custom", className: text(arch.className, "architecture.className", 200) };
  else return fail(`'architecture.kind' must be registered, layers-model or custom`);
  const versions = m.versions ?? {};
  if (!isRecord(versions)) return fail(`'versions' must be an object of name: file`);
  const versionEntries = Object.entries(versions);
  if (versionEntries.length > MANIFEST_LIMITS.versions) fail(`${versionEntries.length} versions; at most ${MANIFEST_LIMITS.versions}`);
  for (const [name, file] of versionEntries) text(file, `versions.${name.slice(0, 40)}`);
  const interpolation = m.interpolation ?? null;
  if (interpolation !== null) {
    if (!isRecord(interpolation)) return fail(`'interpolation' must be null or an object of version: weight`);
    for (const [name, w] of Object.entries(interpolation)) {
      if (typeof w !== "number" || !Number.isFinite(w)) fail(`interpolation weight of '${name.slice(0, 40)}' must be a finite number`);
    }
  }
  const traces = m.traces ?? {};
  if (!isRecord(traces)) return fail(`'traces' must be an object of method: input shapes`);
  const traceEntries = Object.entries(traces);
  if (traceEntries.length > MANIFEST_LIMITS.traces) fail(`${traceEntries.length} traced methods; at most ${MANIFEST_LIMITS.traces}`);
  for (const [fn, shapes] of traceEntries) {
    const field = `traces.${fn.slice(0, 40)}`;
    if (!Array.isArray(shapes) || shapes.length > MANIFEST_LIMITS.inputs) fail(`'${field}' must be a list of at most ${MANIFEST_LIMITS.inputs} shapes`);
    for (const shape of shapes as Json[]) {
      if (!Array.isArray(shape) || shape.length > MANIFEST_LIMITS.dims) fail(`'${field}' shapes are lists of at most ${MANIFEST_LIMITS.dims} sizes`);
      let elements = 1;
      for (const d of shape as Json[]) {
        if (!Number.isInteger(d) || (d as number) < 1 || (d as number) > MANIFEST_LIMITS.dimSize) fail(`'${field}' sizes must be integers in 1..${MANIFEST_LIMITS.dimSize}`);
        elements *= d as number;
      }
      if (elements > MANIFEST_LIMITS.elements) fail(`'${field}' has an input of ${elements} elements; at most ${MANIFEST_LIMITS.elements}`);
    }
  }
  const metadata = m.metadata ?? {};
  if (!isRecord(metadata)) return fail(`'metadata' must be an object`);
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== "string" && !(typeof value === "number" && Number.isFinite(value))) fail(`'metadata.${key.slice(0, 40)}' must be a string or a number`);
    if (String(value).length > MANIFEST_LIMITS.valueChars) fail(`'metadata.${key.slice(0, 40)}' is longer than ${MANIFEST_LIMITS.valueChars} characters`);
  }
  const weightFiles = (w: Json): Manifest["weights"] => {
    if (typeof w === "string") return text(w, "weights");
    if (!isRecord(w)) return fail(`'weights' must be a file name or an object of key prefix: file`);
    const entries = Object.entries(w);
    if (entries.length === 0 || entries.length > MANIFEST_LIMITS.traces) fail(`'weights' names 1 to ${MANIFEST_LIMITS.traces} files`);
    for (const [prefix, file] of entries) text(file, `weights.${prefix.slice(0, 40)}`);
    return w as Record<string, string>;
  };
  const current = m.currentVersion ?? DEFAULT_VERSION;
  return {
    format: "tfbend",
    version: 1,
    architecture,
    weights: weightFiles(m.weights),
    versions: versions as Record<string, string>,
    currentVersion: text(current, "currentVersion", 200),
    interpolation: interpolation as Record<string, number> | null,
    config: m.config === null || m.config === undefined ? null : text(m.config, "config"),
    traces: traces as Record<string, number[][]>,
    metadata: Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, String(v)])),
  };
}

