// nn~'s enum attributes. nn~ has no enum type: an enum is a str attribute whose one-str setter
// refuses the names missing from a List[str] attribute (nn_tilde's attributes example:
// `if animal not in self._valid_animals_: return -1`), which TorchScript prints as
// `_valid_animals_ = self._valid_animals_` ... `torch.__contains__(_valid_animals_, animal)`.
// That list attribute holds the choices.
import type { Expr, FunctionDef, Stmt } from "./syntax.js";
import { childExprs } from "./expr-walk.js";


/** `self.<name>` read directly, or through a local bound to it. */
function selfAttribute(e: Expr, aliases: Map<string, string>): string | undefined {
  if (e.k === "attr" && e.obj.k === "name" && e.obj.id === "self") return e.name;
  return e.k === "name" ? aliases.get(e.id) : undefined;
}

/**
 * The attribute holding an enum's choices: the `self` attribute whose membership the setter
 * tests its one str parameter against; undefined when `setter` is not such a setter.
 */
export function enumListAttribute(setter: FunctionDef): string | undefined {
  const params = setter.params.slice(1);
  if (params.length !== 1 || params[0].type !== "str") return undefined;
  const param = params[0].name;
  const aliases = new Map<string, string>();
  let list: string | undefined;
  const visit = (e: Expr): void => {
    if (e.k === "call" && e.fn.k === "attr" && e.fn.name === "__contains__" && e.fn.obj.k === "name" && e.fn.obj.id === "torch" && e.args.length === 2) {
      const source = selfAttribute(e.args[0], aliases);
      if (source !== undefined && e.args[1].k === "name" && e.args[1].id === param) list = source;
    }
    childExprs(e).forEach(visit);
  };
  const walk = (stmts: Stmt[]): void => {
    for (const st of stmts) {
      if (st.k === "assign" && st.targets.length === 1 && st.targets[0].k === "name") {
        const source = selfAttribute(st.value, new Map());
        if (source !== undefined) aliases.set(st.targets[0].id, source);
      }
      if ("value" in st && st.value !== null) visit(st.value);
      if ("test" in st) visit(st.test);
      if ("body" in st) walk(st.body);
      if ("orelse" in st) walk(st.orelse);
    }
  };
  walk(setter.body);
  return list;
}
