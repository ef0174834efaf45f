// What a WebSocket client sends as text (a command line or JSON {"cmd", "args", "id"}),
// checked against the limits before it is parsed, and which browser pages may connect.
import { atomsProblem, LIMITS, parseLine, type Atom } from "../../protocol/index.js";

export interface ParsedRequest {
  atoms: Atom[];
  id?: string | number;
  json: boolean;
}

/** Throws when JSON text nests arrays/objects deeper than `max` (checked before parsing). */
function checkJsonDepth(text: string, max: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) throw new Error(`JSON nests deeper than ${max} levels; send {"cmd": "...", "args": [words and numbers], "id": number or string}`);
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}

/** A request id echoed in the reply: only a short string or a finite number, never a structure. */
function requestId(id: unknown): string | number | undefined {
  if (id === undefined || id === null) return undefined;
  if (typeof id === "number" && Number.isFinite(id)) return id;
  if (typeof id === "string" && id.length <= LIMITS.idChars) return id;
  throw new Error(`"id" must be a number or a string of at most ${LIMITS.idChars} characters`);
}

/** A text frame as atoms: JSON {"cmd", "args", "id"} or a command line. */
export function parseTextFrame(text: string): ParsedRequest {
  if (Buffer.byteLength(text) > LIMITS.frameBytes) throw new Error(`a text frame holds at most ${LIMITS.frameBytes} bytes`);
  const trimmed = text.trim();
  if (trimmed === "") throw new Error("empty frame; send a command line or JSON {\"cmd\": \"help\"}");
  if (trimmed.startsWith("{")) {
    checkJsonDepth(trimmed, LIMITS.jsonDepth);
    let message: unknown;
    try {
      message = JSON.parse(trimmed);
    } catch (e) {
      throw new Error(`malformed JSON: ${(e as Error).message.slice(0, 120)}`);
    }
    if (message === null || typeof message !== "object" || Array.isArray(message)) throw new Error(`JSON commands look like {"cmd": "bend", "args": [...]}`);
    const { cmd, args = [], id } = message as { cmd?: unknown; args?: unknown; id?: unknown };
    if (typeof cmd !== "string") throw new Error(`JSON commands look like {"cmd": "bend", "args": [...]}`);
    const checkedId = requestId(id);
    if (!Array.isArray(args)) throw new Error("args must be a list of strings and numbers");
    const problem = atomsProblem([cmd, ...args]);
    if (problem) throw new Error(problem);
    return { atoms: [cmd, ...(args as Atom[])], id: checkedId, json: true };
  }
  const atoms = parseLine(trimmed);
  const problem = atomsProblem(atoms);
  if (problem) throw new Error(problem);
  return { atoms, json: false };
}

/** No Origin (not a browser), a page served from this machine, or one listed with --allow-origin. */
export function originAllowed(origin: string | undefined, allowed: string[]): boolean {
  if (origin === undefined || origin === "" || origin === "null") return origin !== "null";
  if (allowed.includes(origin)) return true;
  try {
    const host = new URL(origin).hostname;
    return host === "localhost" || host === "127.0.0.1" || host === "[::1]" || host === "::1";
  } catch {
    return false;
  }
}
