// Text formatting shared by every printed table and repr: a small `tabulate`
// ("simple" style, decimal-aligned numbers) and Python-like reprs, so printed output
// reads like the seed tutorial's.

/** Python's "%g" with 6 significant digits (tabulate's default float format). */
export function formatG(x: number, precision = 6): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  const exponent = Math.floor(Math.log10(Math.abs(x)));
  if (exponent < -4 || exponent >= precision) {
    const [mantissa, exp] = x.toExponential(precision - 1).split("e");
    const m = mantissa.includes(".") ? mantissa.replace(/0+$/, "").replace(/\.$/, "") : mantissa;
    const e = Number(exp);
    return `${m}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  const fixed = x.toPrecision(precision);
  return fixed.includes(".") ? fixed.replace(/0+$/, "").replace(/\.$/, "") : fixed;
}

export type Cell = string | number;

function cellText(cell: Cell): string {
  return typeof cell === "number" ? formatG(cell) : cell;
}

/** Aligns a numeric column on the decimal point, like tabulate does. */
function alignDecimal(texts: string[]): string[] {
  const split = texts.map((t) => {
    const i = t.search(/[.e]/);
    return i < 0 ? [t, ""] : [t.slice(0, i), t.slice(i)];
  });
  const left = Math.max(...split.map(([a]) => a.length));
  const right = Math.max(...split.map(([, b]) => b.length));
  return split.map(([a, b]) => a.padStart(left) + b.padEnd(right));
}

/**
 * A table in tabulate's "simple" format. Without headers, dashed rules go above and
 * below (as the seed's print_activations shows).
 */
export function tabulate(rows: Cell[][], headers?: string[]): string {
  const ncol = Math.max(headers?.length ?? 0, ...rows.map((r) => r.length));
  const columns: string[][] = [];
  const numeric: boolean[] = [];
  for (let c = 0; c < ncol; c++) {
    const cells = rows.map((r) => r[c] ?? "");
    numeric[c] = rows.length > 0 && cells.every((cell) => typeof cell === "number");
    const texts = cells.map(cellText);
    columns[c] = numeric[c] ? alignDecimal(texts) : texts;
  }
  const widths = columns.map((col, c) => Math.max(headers?.[c]?.length ?? 0, ...col.map((t) => t.length), 0));
  const pad = (text: string, c: number) => (numeric[c] ? text.padStart(widths[c]) : text.padEnd(widths[c]));
  const line = (cells: string[]) => cells.map((t, c) => pad(t, c)).join("  ").replace(/\s+$/, "");
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  const body = rows.map((_, r) => line(columns.map((col) => col[r])));
  if (headers) return [line(headers), rule, ...body].join("\n");
  return [rule, ...body, rule].join("\n");
}

/** Python's repr of a string: single quotes, backslashes doubled. */
export function pyString(s: string): string {
  return `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** "[4, 1, 128]" */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** "0.400" for the reprs of bending callbacks (the seed prints %.3f). */
export function formatArg(value: number): string {
  return Number.isInteger(value) && Math.abs(value) >= 1000 ? String(value) : value.toFixed(3);
}

/** Converts camelCase / PascalCase to snake_case ("leakyRelu" → "leaky_relu"). */
export function snakeCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2")
    .toLowerCase();
}
