// Output blocks and the binary frame that carries them (and live audio input) over the
// WebSocket: a 32-byte little-endian header, then float32 data. Plain typed arrays, no
// Node buffers, so the browser panel decodes with this very code.

/** Stream ids of the frame header. "input" is audio sent to tfbend (the method's input). */
export const STREAM_IDS = { audio: 0, image: 1, latent: 2, input: 3 } as const;

export type FrameStream = keyof typeof STREAM_IDS;

/** The streams tfbend sends. */
export type OutputStream = Exclude<FrameStream, "input">;

/** A frame's fields; `data` follows the header. */
export interface Frame<S extends FrameStream = FrameStream> {
  stream: S;
  seq: number;
  sampleRate: number;
  frames: number;
  channels: number;
  width: number;
  height: number;
  data: Float32Array;
}

/**
 * One block of output. Audio: `data` holds `frames` samples per channel (channel after
 * channel); latent (a method whose output ratio is above 1, e.g. encode): `frames` frames
 * of `channels` values, channel after channel; image: interleaved RGB.
 */
export type OutputBlock = Frame<OutputStream>;

export const FRAME_MAGIC = "TFB1";
export const FRAME_HEADER_BYTES = 32;

const STREAM_BY_ID: readonly FrameStream[] = (Object.keys(STREAM_IDS) as FrameStream[]).sort((a, b) => STREAM_IDS[a] - STREAM_IDS[b]);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A byte run that is not a tfbend frame. */
export class FrameError extends Error {}

/** magic "TFB1" | stream u8 (0 audio, 1 image, 2 latent, 3 input) | 3 reserved | seq | sampleRate | frames | channels | width | height (u32 LE) | float32 LE data */
export function encodeFrame(frame: Frame): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + frame.data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) view.setUint8(i, FRAME_MAGIC.charCodeAt(i));
  view.setUint8(4, STREAM_IDS[frame.stream]);
  const header = [frame.seq >>> 0, frame.sampleRate, frame.frames, frame.channels, frame.width, frame.height];
  header.forEach((v, i) => view.setUint32(8 + 4 * i, v, true));
  if (LITTLE_ENDIAN) new Float32Array(out.buffer, FRAME_HEADER_BYTES, frame.data.length).set(frame.data);
  else frame.data.forEach((v, i) => view.setFloat32(FRAME_HEADER_BYTES + 4 * i, v, true));
  return out;
}

/** A frame's fields and data (copied out of `bytes`); throws FrameError for anything that is not a frame. */
export function decodeFrame(bytes: ArrayBuffer | ArrayBufferView): Frame {
  const raw = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const magic = raw.length >= 4 ? String.fromCharCode(raw[0], raw[1], raw[2], raw[3]) : "";
  if (raw.length < FRAME_HEADER_BYTES || magic !== FRAME_MAGIC) throw new FrameError(`not a tfbend frame: the ${FRAME_HEADER_BYTES}-byte "${FRAME_MAGIC}" header, then float32 data`);
  const stream = STREAM_BY_ID[view.getUint8(4)];
  if (stream === undefined) throw new FrameError(`unknown stream id ${view.getUint8(4)} (ids: ${STREAM_BY_ID.map((s) => `${STREAM_IDS[s]} ${s}`).join(", ")})`);
  const dataBytes = raw.length - FRAME_HEADER_BYTES;
  if (dataBytes % 4 !== 0) throw new FrameError(`frame data is ${dataBytes} bytes, not a whole number of float32 values`);
  const data = new Float32Array(dataBytes / 4);
  if (LITTLE_ENDIAN) new Uint8Array(data.buffer).set(raw.subarray(FRAME_HEADER_BYTES));
  else for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(FRAME_HEADER_BYTES + 4 * i, true);
  const u32 = (offset: number) => view.getUint32(offset, true);
  return { stream, seq: u32(8), sampleRate: u32(12), frames: u32(16), channels: u32(20), width: u32(24), height: u32(28), data };
}
