// The tokenizer of the parser: source text to tokens (names, numbers, strings, operators)
// with Python's indentation turned into indent/dedent tokens and line joins inside
// brackets. Apart from the grammar because it reads characters, not tokens.
import { BendingError } from "../errors.js";

export type TokKind = "name" | "num" | "str" | "op" | "newline" | "indent" | "dedent" | "eof";
export interface Token {
  kind: TokKind;
  text: string;
  value?: number | string;
  line: number;
}

export const KEYWORDS = new Set(["and", "or", "not", "in", "is", "if", "elif", "else", "for", "while", "return", "raise",
  "pass", "break", "continue", "def", "class", "import", "from", "as", "assert", "with", "None", "True", "False", "lambda", "global"]);
const OPERATORS = ["**=", "//=", ">>=", "<<=", "->", "**", "//", "==", "!=", "<=", ">=", "+=", "-=", "*=", "/=", "%=", "&=",
  "|=", "^=", "<<", ">>", "...", "(", ")", "[", "]", "{", "}", ",", ":", ".", "=", "+", "-", "*", "/", "%", "<", ">", "&", "|",
  "^", "~", "@", ";"];

export function parseError(file: string, line: number, message: string): BendingError {
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
