// Parser for the restricted Python that torch.jit.save writes under code/__torch__/:
// classes with typed attributes and methods, def functions, if/elif/else, for/while,
// return, raise, tuple unpacking, subscripts, calls with keyword arguments, literals and
// the usual operators. Output is a small AST; interpreter.ts compiles it to closures.
import { BendingError } from "../errors.js";

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

type TokKind = "name" | "num" | "str" | "op" | "newline" | "indent" | "dedent" | "eof";
interface Token {
  kind: TokKind;
  text: string;
  value?: number | string;
  line: number;
}

const KEYWORDS = new Set(["and", "or", "not", "in", "is", "if", "elif", "else", "for", "while", "return", "raise",
  "pass", "break", "continue", "def", "class", "import", "from", "as", "assert", "with", "None", "True", "False", "lambda", "global"]);
const OPERATORS = ["**=", "//=", ">>=", "<<=", "->", "**", "//", "==", "!=", "<=", ">=", "+=", "-=", "*=", "/=", "%=", "&=",
  "|=", "^=", "<<", ">>", "...", "(", ")", "[", "]", "{", "}", ",", ":", ".", "=", "+", "-", "*", "/", "%", "<", ">", "&", "|",
  "^", "~", "@", ";"];

function parseError(file: string, line: number, message: string): BendingError {
  return new BendingError(`TorchScript parse error in ${file}:${line}: ${message}`);
}

function unescape(body: string, file: string, line: number): string {
  return body.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{1,3}|.)/gs, (_, e: string) => {
    switch (e[0]) {
      case "n": return "\n";
      case "t": return "\t";
      case "r": return "\r";
      case "0": case "1": case "2": case "3": case "4": case "5": case "6": case "7": return String.fromCodePoint(parseInt(e, 8));
      case "x": case "u": case "U": return String.fromCodePoint(parseInt(e.slice(1), 16));
      case "\\": case "'": case "\"": return e;
      case "\n": return "";
      case "a": return "\x07";
      case "b": return "\b";
      case "f": return "\f";
      case "v": return "\v";
      default: throw parseError(file, line, `unknown string escape '\\${e}'`);
    }
  });
}

export function tokenize(source: string, file: string): Token[] {
  const tokens: Token[] = [];
  const indents = [0];
  let depth = 0;
  let i = 0;
  let line = 1;
  let atLineStart = true;
  const n = source.length;
  while (i < n) {
    if (atLineStart && depth === 0) {
      let col = 0;
      let j = i;
      while (j < n && (source[j] === " " || source[j] === "\t")) {
        col += source[j] === "\t" ? 8 - (col % 8) : 1;
        j++;
      }
      if (j >= n) break;
      if (source[j] === "\n" || source[j] === "#" || source[j] === "\r") {
        // blank or comment-only line
        while (j < n && source[j] !== "\n") j++;
        i = j + 1;
        line++;
        continue;
      }
      i = j;
      atLineStart = false;
      if (col > indents[indents.length - 1]) {
        indents.push(col);
        tokens.push({ kind: "indent", text: "", line });
      } else {
        while (col < indents[indents.length - 1]) {
          indents.pop();
          tokens.push({ kind: "dedent", text: "", line });
        }
        if (col !== indents[indents.length - 1]) throw parseError(file, line, "inconsistent indentation");
      }
    }
    const c = source[i];
    if (c === "\n") {
      if (depth === 0) {
        tokens.push({ kind: "newline", text: "", line });
        atLineStart = true;
      }
      i++;
      line++;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r") {
      i++;
      continue;
    }
    if (c === "#") {
      while (i < n && source[i] !== "\n") i++;
      continue;
    }
    if (c === "\\" && source[i + 1] === "\n") {
      i += 2;
      line++;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_]/.test(source[j])) j++;
      const word = source.slice(i, j);
      // string prefixes (r"", b"", f"" are not written by TorchScript; only plain ones are read)
      tokens.push({ kind: "name", text: word, line });
      i = j;
      continue;
    }
    if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(source[i + 1] ?? ""))) {
      const m = /^(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)[jJ]?/.exec(source.slice(i, i + 64));
      if (!m) throw parseError(file, line, `bad number`);
      const text = m[0];
      if (/[jJ]$/.test(text)) throw parseError(file, line, `complex literal '${text}' is not supported`);
      const value = /^0[xXoObB]/.test(text) ? Number(text) : parseFloat(text);
      tokens.push({ kind: "num", text, value, line });
      i += text.length;
      continue;
    }
    if (c === "\"" || c === "'") {
      const triple = source.startsWith(c.repeat(3), i);
      const quote = triple ? c.repeat(3) : c;
      let j = i + quote.length;
      const startLine = line;
      while (j < n && !source.startsWith(quote, j)) {
        if (source[j] === "\\") j++;
        else if (source[j] === "\n") {
          if (!triple) throw parseError(file, line, "unterminated string");
          line++;
        }
        j++;
      }
      if (j >= n) throw parseError(file, startLine, "unterminated string");
      const body = source.slice(i + quote.length, j);
      tokens.push({ kind: "str", text: source.slice(i, j + quote.length), value: unescape(body, file, startLine), line: startLine });
      i = j + quote.length;
      continue;
    }
    const op = OPERATORS.find((o) => source.startsWith(o, i));
    if (op === undefined) throw parseError(file, line, `unexpected character '${c}'`);
    if (op === "(" || op === "[" || op === "{") depth++;
    if (op === ")" || op === "]" || op === "}") depth = Math.max(0, depth - 1);
    tokens.push({ kind: "op", text: op, line });
    i += op.length;
  }
  if (!atLineStart) tokens.push({ kind: "newline", text: "", line });
  while (indents.length > 1) {
    indents.pop();
    tokens.push({ kind: "dedent", text: "", line });
  }
  tokens.push({ kind: "eof", text: "", line });
  return tokens;
}

const COMPARISONS = new Set(["==", "!=", "<", "<=", ">", ">=", "in", "not in", "is", "is not"]);

/** Nested blocks and expressions the parser follows (torch's code nests a few dozen at most). */
const MAX_NESTING = 200;

class Parser {
  private pos = 0;
  private depth = 0;
  constructor(private readonly tokens: Token[], private readonly file: string) {}

  /** Runs `parse` one nesting level deeper, refusing code nested past MAX_NESTING before the JS stack overflows. */
  private nested<T>(parse: () => T): T {
    if (this.depth >= MAX_NESTING) throw this.error(`the code nests more than ${MAX_NESTING} levels deep`);
    this.depth++;
    try {
      return parse();
    } finally {
      this.depth--;
    }
  }

  private get tok(): Token {
    return this.tokens[this.pos];
  }
  /** The current token's kind (a call, so that TypeScript does not narrow it across advances). */
  private kind(): TokKind {
    return this.tokens[this.pos].kind;
  }
  private loc(): Loc {
    return { file: this.file, line: this.tok.line };
  }
  private error(message: string): BendingError {
    return parseError(this.file, this.tok.line, message);
  }
  private isOp(text: string): boolean {
    return this.tok.kind === "op" && this.tok.text === text;
  }
  private isWord(text: string): boolean {
    return this.tok.kind === "name" && this.tok.text === text;
  }
  private eatOp(text: string): boolean {
    if (this.isOp(text)) {
      this.pos++;
      return true;
    }
    return false;
  }
  private eatWord(text: string): boolean {
    if (this.isWord(text)) {
      this.pos++;
      return true;
    }
    return false;
  }
  private expectOp(text: string): void {
    if (!this.eatOp(text)) throw this.error(`expected '${text}', found ${this.describe()}`);
  }
  private expectWord(text: string): void {
    if (!this.eatWord(text)) throw this.error(`expected '${text}', found ${this.describe()}`);
  }
  private describe(): string {
    const t = this.tok;
    if (t.kind === "newline") return "end of line";
    if (t.kind === "indent") return "an indent";
    if (t.kind === "dedent") return "a dedent";
    if (t.kind === "eof") return "end of file";
    return `'${t.text}'`;
  }
  private identifier(): string {
    const t = this.tok;
    if (t.kind !== "name" || KEYWORDS.has(t.text)) throw this.error(`expected a name, found ${this.describe()}`);
    this.pos++;
    return t.text;
  }
  private endOfStatement(): void {
    this.eatOp(";");
    if (this.tok.kind === "newline") {
      this.pos++;
      return;
    }
    if (this.tok.kind === "eof" || this.tok.kind === "dedent") return;
    throw this.error(`unexpected ${this.describe()}`);
  }

  parseFile(qualifier: string): ParsedFile {
    const out: ParsedFile = { file: this.file, qualifier, classes: [], functions: [] };
    while (this.tok.kind !== "eof") {
      if (this.tok.kind === "newline") {
        this.pos++;
      } else if (this.isWord("import") || this.isWord("from")) {
        while (this.kind() !== "newline" && this.kind() !== "eof") this.pos++;
      } else if (this.isWord("class")) {
        out.classes.push(this.classDef(qualifier));
      } else if (this.isWord("def")) {
        out.functions.push(this.functionDef());
      } else {
        // top-level statements (e.g. `__torch__` bookkeeping): parsed and ignored
        this.statement();
      }
    }
    return out;
  }

  private classDef(qualifier: string): ClassDef {
    const loc = this.loc();
    this.expectWord("class");
    const name = this.identifier();
    const bases: string[] = [];
    if (this.eatOp("(")) {
      while (!this.isOp(")")) {
        bases.push(typeText(this.expression()));
        if (!this.eatOp(",")) break;
      }
      this.expectOp(")");
    }
    this.expectOp(":");
    const cls: ClassDef = {
      name, qualifiedName: `${qualifier}.${name}`, bases, parameters: [], buffers: [], attributes: new Map(), constants: new Map(), methods: new Map(), loc,
    };
    this.block(() => {
      if (this.isWord("def")) {
        const fn = this.functionDef();
        cls.methods.set(fn.name, fn);
        return;
      }
      if (this.eatWord("pass")) return this.endOfStatement();
      const target = this.expression();
      if (this.eatOp(":")) {
        // `name : Type` or `name : Final[T] = value`
        const type = typeText(this.expression());
        if (target.k !== "name") throw this.error("an attribute declaration needs a name");
        cls.attributes.set(target.id, type);
        if (this.eatOp("=")) cls.constants.set(target.id, this.expression());
        return this.endOfStatement();
      }
      this.expectOp("=");
      const value = this.expression();
      this.endOfStatement();
      if (target.k === "name" && (target.id === "__parameters__" || target.id === "__buffers__")) {
        const names = listOfStrings(value);
        if (names === null) throw parseError(this.file, loc.line, `${target.id} must be a list of strings`);
        (target.id === "__parameters__" ? cls.parameters : cls.buffers).push(...names);
      } else if (target.k === "index" && target.obj.k === "name" && target.obj.id === "__annotations__" && target.index.k === "const") {
        cls.attributes.set(String(target.index.value), typeText(value));
      } else if (target.k === "name") {
        cls.constants.set(target.id, value);
      } else {
        throw parseError(this.file, target.loc.line, "unsupported statement in a class body");
      }
    });
    return cls;
  }

  /** An indented block; `item` parses one entry. */
  private block(item: () => void): void {
    if (this.tok.kind !== "newline") {
      // one-line body: `if x: return y`
      item();
      return;
    }
    this.pos++;
    if (this.kind() !== "indent") throw this.error("expected an indented block");
    this.pos++;
    while (this.kind() !== "dedent" && this.kind() !== "eof") {
      if (this.tok.kind === "newline") {
        this.pos++;
        continue;
      }
      item();
    }
    if (this.kind() === "dedent") this.pos++;
  }

  private statements(): Stmt[] {
    return this.nested(() => {
      const out: Stmt[] = [];
      this.block(() => out.push(this.statement()));
      return out;
    });
  }

  private functionDef(): FunctionDef {
    const loc = this.loc();
    this.expectWord("def");
    const name = this.identifier();
    this.expectOp("(");
    const params: Param[] = [];
    while (!this.isOp(")")) {
      const pname = this.identifier();
      let type: string | null = null;
      let dflt: Expr | null = null;
      if (this.eatOp(":")) type = typeText(this.expression());
      if (this.eatOp("=")) dflt = this.expression();
      params.push({ name: pname, type, default: dflt });
      if (!this.eatOp(",")) break;
    }
    this.expectOp(")");
    let returns: string | null = null;
    if (this.eatOp("->")) returns = typeText(this.expression());
    this.expectOp(":");
    const body = this.statements();
    return { name, params, returns, body, loc };
  }

  private statement(): Stmt {
    const loc = this.loc();
    const t = this.tok;
    if (t.kind === "name") {
      switch (t.text) {
        case "if": return this.ifStatement();
        case "for": {
          this.pos++;
          const target = this.targetList();
          this.expectWord("in");
          const iter = this.expressionList();
          this.expectOp(":");
          return { k: "for", target, iter, body: this.statements(), loc };
        }
        case "while": {
          this.pos++;
          const test = this.expression();
          this.expectOp(":");
          return { k: "while", test, body: this.statements(), loc };
        }
        case "with": {
          // torch >= 1.10 prints `with _0:` on a context-manager object (no_grad built by __new__/__init__)
          this.pos++;
          const items: { context: Expr; target: Expr | null }[] = [];
          do {
            const context = this.expression();
            items.push({ context, target: this.eatWord("as") ? this.expression() : null });
          } while (this.eatOp(","));
          this.expectOp(":");
          return { k: "with", items, body: this.statements(), loc };
        }
        case "return": {
          this.pos++;
          const value = this.tok.kind === "newline" || this.tok.kind === "eof" ? null : this.expressionList();
          this.endOfStatement();
          return { k: "return", value, loc };
        }
        case "raise": {
          this.pos++;
          const value = this.tok.kind === "newline" ? null : this.expression();
          if (this.eatWord("from")) this.expression();
          this.endOfStatement();
          return { k: "raise", value, loc };
        }
        case "assert": {
          this.pos++;
          const test = this.expression();
          const msg = this.eatOp(",") ? this.expression() : null;
          this.endOfStatement();
          return { k: "assert", test, msg, loc };
        }
        case "pass": case "break": case "continue":
          this.pos++;
          this.endOfStatement();
          return { k: t.text, loc };
        case "global":
          throw this.error("'global' is not supported");
        default:
          break;
      }
    }
    const first = this.expressionList();
    if (this.eatOp(":")) {
      // annotated assignment: `x: Optional[List[int]] = value`
      this.expression();
      if (!this.eatOp("=")) {
        this.endOfStatement();
        return { k: "pass", loc };
      }
      const value = this.expressionList();
      this.endOfStatement();
      return { k: "assign", targets: [first], value, loc };
    }
    if (this.tok.kind === "op" && /^(\+|-|\*|\/|\/\/|%|\*\*|&|\||\^|<<|>>)=$/.test(this.tok.text)) {
      const op = this.tok.text.slice(0, -1);
      this.pos++;
      const value = this.expressionList();
      this.endOfStatement();
      return { k: "augassign", target: first, op, value, loc };
    }
    if (this.isOp("=")) {
      const targets = [first];
      let value = first;
      while (this.eatOp("=")) {
        value = this.expressionList();
        targets.push(value);
      }
      targets.pop();
      this.endOfStatement();
      return { k: "assign", targets, value, loc };
    }
    this.endOfStatement();
    return { k: "expr", value: first, loc };
  }

  private ifStatement(): Stmt {
    const loc = this.loc();
    this.pos++; // if / elif
    const test = this.expression();
    this.expectOp(":");
    const body = this.statements();
    let orelse: Stmt[] = [];
    if (this.isWord("elif")) orelse = [this.ifStatement()];
    else if (this.eatWord("else")) {
      this.expectOp(":");
      orelse = this.statements();
    }
    return { k: "if", test, body, orelse, loc };
  }

  /** `a, b, = ...` targets (no comparison or `in`, which ends a for target). */
  private targetList(): Expr {
    const loc = this.loc();
    const items = [this.orExpr(false)];
    let tuple = false;
    while (this.eatOp(",")) {
      tuple = true;
      if (this.isWord("in") || this.isOp("=")) break;
      items.push(this.orExpr(false));
    }
    return tuple ? { k: "tuple", items, loc } : items[0];
  }

  /** Expressions separated by commas: a tuple when there is a comma. */
  private expressionList(): Expr {
    const loc = this.loc();
    const first = this.expression();
    if (!this.isOp(",")) return first;
    const items = [first];
    while (this.eatOp(",")) {
      if (this.endsList()) break;
      items.push(this.expression());
    }
    return { k: "tuple", items, loc };
  }

  private endsList(): boolean {
    const t = this.tok;
    return t.kind === "newline" || t.kind === "eof" || (t.kind === "op" && [")", "]", "}", "=", ":", ";"].includes(t.text)) ||
      (t.kind === "op" && /^.+=$/.test(t.text) && !["==", "!=", "<=", ">="].includes(t.text));
  }

  /** One expression that is the whole source (nothing follows it on its line). */
  wholeExpression(): Expr {
    const e = this.expression();
    if (this.kind() !== "newline" && this.kind() !== "eof") throw this.error(`expected the end of the expression, found ${this.describe()}`);
    return e;
  }

  expression(): Expr {
    return this.nested(() => this.conditional());
  }

  private conditional(): Expr {
    const loc = this.loc();
    if (this.isWord("lambda")) throw this.error("lambda is not supported");
    const body = this.orExpr(true);
    if (this.eatWord("if")) {
      const test = this.orExpr(true);
      this.expectWord("else");
      const orelse = this.expression();
      return { k: "ifexp", test, body, orelse, loc };
    }
    return body;
  }

  private orExpr(allowCompare: boolean): Expr {
    let left = this.andExpr(allowCompare);
    while (this.isWord("or")) {
      const loc = this.loc();
      this.pos++;
      left = { k: "bool", op: "or", left, right: this.andExpr(allowCompare), loc };
    }
    return left;
  }

  private andExpr(allowCompare: boolean): Expr {
    let left = this.notExpr(allowCompare);
    while (this.isWord("and")) {
      const loc = this.loc();
      this.pos++;
      left = { k: "bool", op: "and", left, right: this.notExpr(allowCompare), loc };
    }
    return left;
  }

  private notExpr(allowCompare: boolean): Expr {
    if (this.isWord("not")) {
      const loc = this.loc();
      this.pos++;
      return { k: "unary", op: "not", operand: this.nested(() => this.notExpr(allowCompare)), loc };
    }
    return allowCompare ? this.comparison() : this.binary(0);
  }

  private comparisonOp(): string | null {
    const t = this.tok;
    if (t.kind === "op" && COMPARISONS.has(t.text)) {
      this.pos++;
      return t.text;
    }
    if (this.isWord("in")) {
      this.pos++;
      return "in";
    }
    if (this.isWord("not") && this.tokens[this.pos + 1]?.text === "in") {
      this.pos += 2;
      return "not in";
    }
    if (this.isWord("is")) {
      this.pos++;
      return this.eatWord("not") ? "is not" : "is";
    }
    return null;
  }

  private comparison(): Expr {
    const loc = this.loc();
    const first = this.binary(0);
    const ops: string[] = [];
    const operands = [first];
    for (let op = this.comparisonOp(); op !== null; op = this.comparisonOp()) {
      ops.push(op);
      operands.push(this.binary(0));
    }
    return ops.length === 0 ? first : { k: "compare", ops, operands, loc };
  }

  private static readonly LEVELS: string[][] = [["|"], ["^"], ["&"], ["<<", ">>"], ["+", "-"], ["*", "/", "//", "%", "@"]];

  private binary(level: number): Expr {
    if (level === Parser.LEVELS.length) return this.unary();
    let left = this.binary(level + 1);
    const ops = Parser.LEVELS[level];
    while (this.tok.kind === "op" && ops.includes(this.tok.text)) {
      const loc = this.loc();
      const op = this.tok.text;
      this.pos++;
      left = { k: "binary", op, left, right: this.binary(level + 1), loc };
    }
    return left;
  }

  private unary(): Expr {
    const loc = this.loc();
    if (this.tok.kind === "op" && (this.tok.text === "-" || this.tok.text === "+" || this.tok.text === "~")) {
      const op = this.tok.text as "-" | "+" | "~";
      this.pos++;
      const operand = this.nested(() => this.unary());
      if (op === "-" && operand.k === "const" && typeof operand.value === "number") return { k: "const", value: -operand.value, loc };
      return { k: "unary", op, operand, loc };
    }
    return this.power();
  }

  private power(): Expr {
    const base = this.primary();
    if (this.isOp("**")) {
      const loc = this.loc();
      this.pos++;
      return { k: "binary", op: "**", left: base, right: this.nested(() => this.unary()), loc };
    }
    return base;
  }

  private primary(): Expr {
    let e = this.atom();
    for (;;) {
      const loc = this.loc();
      if (this.eatOp(".")) {
        const t = this.tok;
        if (t.kind !== "name") throw this.error(`expected an attribute name, found ${this.describe()}`);
        this.pos++;
        e = { k: "attr", obj: e, name: t.text, loc };
      } else if (this.eatOp("(")) {
        const args: Expr[] = [];
        const kwargs: [string, Expr][] = [];
        while (!this.isOp(")")) {
          if (this.isOp("*") || this.isOp("**")) throw this.error("*args are not supported");
          if (this.tok.kind === "name" && this.tokens[this.pos + 1]?.text === "=" && this.tokens[this.pos + 1]?.kind === "op") {
            const key = this.tok.text;
            this.pos += 2;
            kwargs.push([key, this.expression()]);
          } else {
            if (kwargs.length > 0) throw this.error("positional argument after a keyword argument");
            args.push(this.expression());
          }
          if (!this.eatOp(",")) break;
        }
        this.expectOp(")");
        e = { k: "call", fn: e, args, kwargs, loc };
      } else if (this.eatOp("[")) {
        const items: Expr[] = [];
        let tuple = false;
        while (!this.isOp("]")) {
          items.push(this.subscriptItem());
          if (!this.eatOp(",")) break;
          tuple = true;
        }
        this.expectOp("]");
        if (items.length === 0) throw this.error("empty subscript");
        const index: Expr = tuple || items.length > 1 ? { k: "tuple", items, loc } : items[0];
        e = { k: "index", obj: e, index, loc };
      } else {
        return e;
      }
    }
  }

  private subscriptItem(): Expr {
    const loc = this.loc();
    const lower = this.isOp(":") ? null : this.expression();
    if (!this.eatOp(":")) return lower!;
    const upper = this.isOp(":") || this.isOp("]") || this.isOp(",") ? null : this.expression();
    let step: Expr | null = null;
    if (this.eatOp(":")) step = this.isOp("]") || this.isOp(",") ? null : this.expression();
    return { k: "slice", lower, upper, step, loc };
  }

  private atom(): Expr {
    const loc = this.loc();
    const t = this.tok;
    if (t.kind === "num") {
      this.pos++;
      return { k: "const", value: t.value as number, loc };
    }
    if (t.kind === "str") {
      let s = t.value as string;
      this.pos++;
      while (this.tok.kind === "str") {
        s += this.tok.value as string;
        this.pos++;
      }
      return { k: "const", value: s, loc };
    }
    if (t.kind === "name") {
      if (t.text === "None") {
        this.pos++;
        return { k: "const", value: null, loc };
      }
      if (t.text === "True" || t.text === "False") {
        this.pos++;
        return { k: "const", value: t.text === "True", loc };
      }
      return { k: "name", id: this.identifier(), loc };
    }
    if (this.eatOp("(")) {
      if (this.eatOp(")")) return { k: "tuple", items: [], loc };
      const first = this.expression();
      if (this.eatOp(")")) return first;
      const items = [first];
      while (this.eatOp(",")) {
        if (this.isOp(")")) break;
        items.push(this.expression());
      }
      this.expectOp(")");
      return { k: "tuple", items, loc };
    }
    if (this.eatOp("[")) {
      const items: Expr[] = [];
      while (!this.isOp("]")) {
        items.push(this.expression());
        if (this.isWord("for")) throw this.error("list comprehensions are not supported");
        if (!this.eatOp(",")) break;
      }
      this.expectOp("]");
      return { k: "list", items, loc };
    }
    if (this.eatOp("{")) {
      const keys: Expr[] = [];
      const values: Expr[] = [];
      while (!this.isOp("}")) {
        keys.push(this.expression());
        this.expectOp(":");
        values.push(this.expression());
        if (!this.eatOp(",")) break;
      }
      this.expectOp("}");
      return { k: "dict", keys, values, loc };
    }
    if (this.isOp("...")) {
      this.pos++;
      return { k: "name", id: "Ellipsis", loc };
    }
    throw this.error(`unexpected ${this.describe()}`);
  }
}

function listOfStrings(e: Expr): string[] | null {
  if (e.k !== "list" && e.k !== "tuple") return null;
  const out: string[] = [];
  for (const item of e.items) {
    if (item.k !== "const" || typeof item.value !== "string") return null;
    out.push(item.value);
  }
  return out;
}

/** A type annotation as text: `List[int]`, `Optional[Tensor]`, `__torch__.model.Block`. */
export function typeText(e: Expr): string {
  switch (e.k) {
    case "name": return e.id;
    case "const": return e.value === null ? "None" : String(e.value);
    case "attr": return `${typeText(e.obj)}.${e.name}`;
    case "index": return `${typeText(e.obj)}[${typeText(e.index)}]`;
    case "tuple": return e.items.map(typeText).join(", ");
    case "list": return `[${e.items.map(typeText).join(", ")}]`;
    default: throw parseError(e.loc.file, e.loc.line, "unsupported type annotation");
  }
}

/** `code/__torch__/torch/nn/modules/conv.py` → `__torch__.torch.nn.modules.conv`. */
export function qualifierOf(codePath: string): string {
  const path = codePath.replace(/\\/g, "/").replace(/^.*?(?=__torch__)/, "").replace(/\.py$/, "");
  return path.split("/").join(".");
}

/** Parses one source file of an archive's code/ folder. `file` names it in errors. */
export function parseSource(source: string, file: string): ParsedFile {
  const tokens = tokenize(source, file);
  return new Parser(tokens, file).parseFile(qualifierOf(file));
}

/** Parses one expression (constants.pkl holds none; used by tests and the interpreter's defaults). */
export function parseExpression(source: string, file = "<expr>"): Expr {
  const parser = new Parser(tokenize(source, file), file);
  return parser.expression();
}

/** Parses `source` as exactly one expression (refuses anything after it). */
export function parseWholeExpression(source: string, file = "<expr>"): Expr {
  return new Parser(tokenize(source, file), file).wholeExpression();
}
