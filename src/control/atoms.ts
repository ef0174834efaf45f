// Atoms: what a patch sends and receives (Max message atoms, OSC arguments, words of a
// WebSocket text line). Parsing and formatting live here so every transport agrees.
export type Atom = string | number;

/** Splits a text line into atoms: numbers where a word is a number, quoted strings kept whole. */
export function parseLine(line: string): Atom[] {
  const atoms: Atom[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line)) !== null) {
    if (m[1] !== undefined) atoms.push(m[1].replace(/\\(.)/g, "$1"));
    else atoms.push(toAtom(m[2]));
  }
  return atoms;
}

/** A word as a number when it reads as one ("0.4", "-2", "1e-3"), else as a symbol. */
export function toAtom(word: string): Atom {
  if (/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(word)) return Number(word);
  return word;
}

export function formatAtom(atom: Atom): string {
  if (typeof atom === "number") return String(atom);
  return /[\s"]/.test(atom) || atom === "" ? `"${atom.replace(/(["\\])/g, "\\$1")}"` : atom;
}

export function formatLine(atoms: Atom[]): string {
  return atoms.map(formatAtom).join(" ");
}
