// How the compiler reads dotted names in the code: the namespaces that are not values
// (`torch`, `ops`, `__torch__`, type names), named constants (`math.pi`), a name or
// attribute chain as dotted text, the op table's name for `torch.x` / `ops.aten.x`, and
// the type names an isinstance() test lists.
import type { Expr } from "./syntax.js";
import type { Value } from "./script-class.js";

export const NAMESPACES = new Set(["torch", "ops", "__torch__", "CONSTANTS", "math", "builtins", "Tensor", "List", "Tuple", "Dict", "Optional",
  "Final", "int", "float", "bool", "str", "NoneType", "Any", "number", "Device", "Future", "Union"]);

/** Scalar constants the code refers to by name. */
export const NAMED_CONSTANTS: Record<string, Value> = {
  "math.pi": Math.PI, "math.e": Math.E, "math.inf": Infinity, "math.nan": NaN,
};

export function dottedName(e: Expr): string | null {
  if (e.k === "name") return e.id;
  if (e.k === "attr") {
    const head = dottedName(e.obj);
    return head === null ? null : `${head}.${e.name}`;
  }
  return null;
}

/** `torch.conv1d` → `conv1d`, `ops.prim.RaiseException` → `prim::RaiseException`, `ops.aten.x` → `x`. */
export function opNameOf(dotted: string): string {
  if (dotted.startsWith("ops.prim.")) return `prim::${dotted.slice("ops.prim.".length)}`;
  if (dotted.startsWith("ops.aten.")) return dotted.slice("ops.aten.".length);
  if (dotted.startsWith("torch.")) {
    const rest = dotted.slice("torch.".length);
    // torch.nn.functional.x, torch.fft.x, torch.linalg.x, torch._C._nn.x: the last part
    if (rest.startsWith("fft.")) return `fft_${rest.slice(4)}`;
    if (rest.startsWith("linalg.")) return `linalg_${rest.slice(7)}`;
    const parts = rest.split(".");
    return parts[parts.length - 1];
  }
  if (dotted.startsWith("math.")) return `math.${dotted.slice(5)}`;
  return dotted;
}

export function typeNames(e: Expr): string[] {
  if (e.k === "tuple") return e.items.flatMap(typeNames);
  const d = dottedName(e.k === "index" ? e.obj : e);
  return d === null ? [] : [d];
}
