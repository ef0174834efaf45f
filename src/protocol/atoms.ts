// Atoms: what a patch sends and receives (Max message atoms, OSC arguments, words of a
// WebSocket text line). Parsing and formatting live here so every transport, and the panel, agree.
export type Atom = string | number;

/** What one message may hold, whatever the transport: a patch never needs more. */
export const LIMITS = {
  /** Atoms in one message, the command included. */
  atoms: 1024,
  /** Characters in one word. */
  wordChars: 4096,
  /** Bytes in one WebSocket text frame. */
  frameBytes: 64 * 1024,
  /** Nesting of JSON arrays and objects in one frame ({"cmd", "args": [...]} is 2). */
  jsonDepth: 4,
  /** Characters of a client's request id. */
  idChars: 256,
} as const;

/** Why a message's atoms are refused (too many, a word too long, a number that is not finite, not an atom), or null. */
export function atomsProblem(atoms: readonly unknown[]): string | null {
  if (atoms.length > LIMITS.atoms) return `a message holds at most ${LIMITS.atoms} atoms, got ${atoms.length}`;
  for (const [i, atom] of atoms.entries()) {
    if (typeof atom === "number") {
      if (!Number.isFinite(atom)) return `atom ${i + 1} is ${atom}; numbers must be finite`;
      continue;
    }
    if (typeof atom !== "string") return `atom ${i + 1} is a ${atom === null ? "null" : typeof atom}; send words and numbers`;
    if (atom.length > LIMITS.wordChars) return `atom ${i + 1} has ${atom.length} characters; at most ${LIMITS.wordChars}`;
  }
  return null;
}

/** A word quoted in an error message, cut short: errors never echo a whole hostile input. */
export function quoted(word: unknown, max = 80): string {
  const text = String(word);
  return text.length > max ? `${text.slice(0, max)}…(${text.length} characters)` : text;
}

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

const DECIMAL = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/** A word as a number when it reads as one ("0.4", "-2", "1e-3"), else as a symbol. */
export function toAtom(word: string): Atom {
  if (DECIMAL.test(word)) return Number(word);
  return word;
}

/**
 * The number an atom stands for: a number, or a string that is exactly a decimal number
 * (some OSC senders send every atom as a string); undefined for anything else.
 */
export function numericAtom(atom: Atom | undefined): number | undefined {
  if (typeof atom === "number") return atom;
  return typeof atom === "string" && DECIMAL.test(atom) ? Number(atom) : undefined;
}

export function formatAtom(atom: Atom): string {
  if (typeof atom === "number") return String(atom);
  return /[\s"]/.test(atom) || atom === "" ? `"${atom.replace(/(["\\])/g, "\\$1")}"` : atom;
}

export function formatLine(atoms: Atom[]): string {
  return atoms.map(formatAtom).join(" ");
}
