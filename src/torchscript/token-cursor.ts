// The parser's position in the token list and the small moves every grammar rule makes
// (peek, eat, expect, a name, the end of a statement), plus the nesting guard. The base
// of the expression and statement grammars, which extend it.
import type { BendingError } from "../errors.js";
import type { Loc } from "./syntax.js";
import { KEYWORDS, parseError, type TokKind, type Token } from "./tokenizer.js";

/** Nested blocks and expressions the parser follows (torch's code nests a few dozen at most). */
const MAX_NESTING = 200;

export class TokenCursor {
  protected pos = 0;
  private depth = 0;
  constructor(protected readonly tokens: Token[], protected readonly file: string) {}

  /** Runs `parse` one nesting level deeper, refusing code nested past MAX_NESTING before the JS stack overflows. */
  protected nested<T>(parse: () => T): T {
    if (this.depth >= MAX_NESTING) throw this.error(`the code nests more than ${MAX_NESTING} levels deep`);
    this.depth++;
    try {
      return parse();
    } finally {
      this.depth--;
    }
  }

  protected get tok(): Token {
    return this.tokens[this.pos];
  }
  /** The current token's kind (a call, so that TypeScript does not narrow it across advances). */
  protected kind(): TokKind {
    return this.tokens[this.pos].kind;
  }
  protected loc(): Loc {
    return { file: this.file, line: this.tok.line };
  }
  protected error(message: string): BendingError {
    return parseError(this.file, this.tok.line, message);
  }
  protected isOp(text: string): boolean {
    return this.tok.kind === "op" && this.tok.text === text;
  }
  protected isWord(text: string): boolean {
    return this.tok.kind === "name" && this.tok.text === text;
  }
  protected eatOp(text: string): boolean {
    if (this.isOp(text)) {
      this.pos++;
      return true;
    }
    return false;
  }
  protected eatWord(text: string): boolean {
    if (this.isWord(text)) {
      this.pos++;
      return true;
    }
    return false;
  }
  protected expectOp(text: string): void {
    if (!this.eatOp(text)) throw this.error(`expected '${text}', found ${this.describe()}`);
  }
  protected expectWord(text: string): void {
    if (!this.eatWord(text)) throw this.error(`expected '${text}', found ${this.describe()}`);
  }
  protected describe(): string {
    const t = this.tok;
    if (t.kind === "newline") return "end of line";
    if (t.kind === "indent") return "an indent";
    if (t.kind === "dedent") return "a dedent";
    if (t.kind === "eof") return "end of file";
    return `'${t.text}'`;
  }
  protected identifier(): string {
    const t = this.tok;
    if (t.kind !== "name" || KEYWORDS.has(t.text)) throw this.error(`expected a name, found ${this.describe()}`);
    this.pos++;
    return t.text;
  }
  protected endOfStatement(): void {
    this.eatOp(";");
    if (this.tok.kind === "newline") {
      this.pos++;
      return;
    }
    if (this.tok.kind === "eof" || this.tok.kind === "dedent") return;
    throw this.error(`unexpected ${this.describe()}`);
  }
}
