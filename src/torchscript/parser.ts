// Parser for the restricted Python that torch.jit.save writes under code/__torch__/:
// classes with typed attributes and methods, def functions, if/elif/else, for/while,
// return, raise, tuple unpacking, subscripts, calls with keyword arguments, literals and
// the usual operators. Output is a small AST; interpreter.ts compiles it to closures.
// This file holds the statement grammar (files, classes, functions, blocks, statements)
// and the entry points; the tokenizer, the token cursor and the expression grammar are
// the files it builds on (tokenizer.ts, token-cursor.ts, expression-parser.ts).
import type { ClassDef, Expr, FunctionDef, Param, ParsedFile, Stmt } from "./syntax.js";
import { parseError, tokenize } from "./tokenizer.js";
import { ExpressionParser } from "./expression-parser.js";

class Parser extends ExpressionParser {
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
