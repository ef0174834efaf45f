// The expression grammar: conditionals, boolean and comparison chains, binary operators by
// precedence, unary operators, power, calls, attributes, subscripts and slices, and atoms
// (literals, names, tuples, lists, dicts). The statement grammar (parser.ts) extends it.
import type { Expr } from "./syntax.js";
import { TokenCursor } from "./token-cursor.js";

const COMPARISONS = new Set(["==", "!=", "<", "<=", ">", ">=", "in", "not in", "is", "is not"]);

export class ExpressionParser extends TokenCursor {
  /** `a, b, = ...` targets (no comparison or `in`, which ends a for target). */
  protected targetList(): Expr {
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
  protected expressionList(): Expr {
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
    if (level === ExpressionParser.LEVELS.length) return this.unary();
    let left = this.binary(level + 1);
    const ops = ExpressionParser.LEVELS[level];
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
