// /tfbend/buffer and /tfbend/tensor with their samples in a blob (float32 little-endian), as
// nn~ fills a buffer attribute from a buffer~: `/tfbend/buffer <name> <sample_rate> [channels]
// <blob>` (several channels channel after channel, like audio_in) and `/tfbend/tensor
// <attribute> <dim>... <blob>` (row-major). The atoms before the blob go to the command, the
// samples with it (Session.execute's data); the session checks names, shapes and values.
import type { Atom } from "../../protocol/index.js";
import { fromOscArgs, type OscArg } from "./args.js";

/** Commands that take their samples as a blob. */
export const DATA_COMMANDS: ReadonlySet<string> = new Set(["buffer", "tensor"]);

/** The default for the largest blob taken (as the Jitter receiver's largest matrix): 262,144 float32 samples. */
export const DEFAULT_MAX_DATA_BYTES = 1 << 20;

export type OscDataIn = { atoms: Atom[]; data: Float32Array } | { problem: string };

const USAGE: Record<string, string> = {
  buffer: "/tfbend/buffer <name> <sample_rate> [channels] <blob of float32 LE, channel after channel>",
  tensor: "/tfbend/tensor <attribute> <dim>... <blob of float32 LE, row-major>",
};

/** The atoms and samples of a data command whose last argument is a blob. */
export function parseOscData(command: string, args: OscArg[], maxBytes = DEFAULT_MAX_DATA_BYTES): OscDataIn {
  const blob = args[args.length - 1];
  if (blob === undefined || blob.type !== "b" || !(blob.value instanceof Uint8Array)) return { problem: `usage: ${USAGE[command]}` };
  if (args.slice(0, -1).some((a) => a.type === "b")) return { problem: `${command}: one blob only, the last argument (usage: ${USAGE[command]})` };
  const bytes = blob.value;
  if (bytes.byteLength > maxBytes) return { problem: `${command}: a blob of ${bytes.byteLength} bytes is larger than ${maxBytes}` };
  if (bytes.byteLength % 4 !== 0) return { problem: `${command}: a blob of ${bytes.byteLength} bytes is not whole float32 samples (float32 little-endian)` };
  let atoms: Atom[];
  try {
    atoms = fromOscArgs(args.slice(0, -1));
  } catch (e) {
    return { problem: `${command}: ${(e as Error).message}` };
  }
  const data = new Float32Array(bytes.byteLength / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(i * 4, true);
  return { atoms: [command, ...atoms], data };
}
