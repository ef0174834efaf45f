// The syntax tree the parser builds and the interpreter compiles: expressions, statements,
// functions, classes and files, each node with its source location. Apart from the parser
// so that code that only walks trees (call sites, enum attributes, the activation export)
// depends on the shapes, not on the grammar.

/** Where a node came from, for error messages: "code/__torch__/model.py:12". */
export interface Loc {
  file: string;
  line: number;
}

export type Expr =
  | { k: "name"; id: string; loc: Loc }
  | { k: "const"; value: null | boolean | number | string; loc: Loc }
  | { k: "attr"; obj: Expr; name: string; loc: Loc }
  | { k: "call"; fn: Expr; args: Expr[]; kwargs: [string, Expr][]; loc: Loc }
  | { k: "index"; obj: Expr; index: Expr; loc: Loc }
  | { k: "slice"; lower: Expr | null; upper: Expr | null; step: Expr | null; loc: Loc }
  | { k: "tuple"; items: Expr[]; loc: Loc }
  | { k: "list"; items: Expr[]; loc: Loc }
  | { k: "dict"; keys: Expr[]; values: Expr[]; loc: Loc }
  | { k: "unary"; op: "-" | "+" | "not" | "~"; operand: Expr; loc: Loc }
  | { k: "binary"; op: string; left: Expr; right: Expr; loc: Loc }
  | { k: "bool"; op: "and" | "or"; left: Expr; right: Expr; loc: Loc }
  | { k: "compare"; ops: string[]; operands: Expr[]; loc: Loc }
  | { k: "ifexp"; test: Expr; body: Expr; orelse: Expr; loc: Loc };

export type Stmt =
  | { k: "expr"; value: Expr; loc: Loc }
  | { k: "assign"; targets: Expr[]; value: Expr; loc: Loc }
  | { k: "augassign"; target: Expr; op: string; value: Expr; loc: Loc }
  | { k: "if"; test: Expr; body: Stmt[]; orelse: Stmt[]; loc: Loc }
  | { k: "for"; target: Expr; iter: Expr; body: Stmt[]; loc: Loc }
  | { k: "while"; test: Expr; body: Stmt[]; loc: Loc }
  | { k: "with"; items: { context: Expr; target: Expr | null }[]; body: Stmt[]; loc: Loc }
  | { k: "return"; value: Expr | null; loc: Loc }
  | { k: "raise"; value: Expr | null; loc: Loc }
  | { k: "assert"; test: Expr; msg: Expr | null; loc: Loc }
  | { k: "pass" | "break" | "continue"; loc: Loc };

export interface Param {
  name: string;
  type: string | null;
  default: Expr | null;
}

export interface FunctionDef {
  name: string;
  params: Param[];
  returns: string | null;
  body: Stmt[];
  loc: Loc;
}

/** A class body: attribute declarations (`name : Type`), constants, and methods. */
export interface ClassDef {
  name: string;
  /** Fully qualified: `__torch__.torch.nn.modules.conv.Conv1d`. */
  qualifiedName: string;
  bases: string[];
  parameters: string[];
  buffers: string[];
  attributes: Map<string, string>;
  /** `Final` constants and other class-level values. */
  constants: Map<string, Expr>;
  methods: Map<string, FunctionDef>;
  loc: Loc;
}

export interface ParsedFile {
  file: string;
  /** The module prefix of names defined here: `__torch__.torch.nn.modules.conv`. */
  qualifier: string;
  classes: ClassDef[];
  functions: FunctionDef[];
}
