// Names a model file gives the methods and attributes it exposes to clients (nn~'s
// get_methods / get_attributes). A loaded module never turns them into properties (its
// script methods live in a table), but clients use them as command arguments, reply keys
// and property names in their own code: a method called `then` would make a client's
// object look like a promise. Such names are refused at load, with the name and the file.
import { BendingError } from "../errors.js";

/**
 * Names runtimes and libraries probe on any object: promise resolution, JSON, util.inspect,
 * test matchers, the DOM and React. Everything on Object.prototype is refused as well.
 */
const PROBED_NAMES = new Set(["then", "catch", "finally", "toJSON", "inspect", "asymmetricMatch", "nodeType", "$$typeof", "prototype"]);

/** Plain identifiers (nn~ method and attribute names are Python identifiers). */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Throws a BendingError unless `name` is safe to expose to clients. */
export function checkExposedName(name: unknown, what: string, file: string): string {
  if (typeof name !== "string" || !IDENTIFIER.test(name)) {
    throw new BendingError(`${file}: ${what} ${JSON.stringify(String(name)).slice(0, 140)} is not a plain identifier; this model cannot be loaded`);
  }
  if (PROBED_NAMES.has(name) || name in Object.prototype) {
    throw new BendingError(`${file}: ${what} '${name}' has a name JavaScript reads on every object (promises, JSON, inspection); rename it in the model to load it`);
  }
  return name;
}
