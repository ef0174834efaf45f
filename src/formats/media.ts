// Offline renders: WAV (32-bit float, for buffer~ replace) and PNG (for jit.matrix read).
import { readFile } from "node:fs/promises";
import wavefile from "wavefile";
import { PNG } from "pngjs";
import { writeFileNoFollow } from "./paths.js";

/**
 * Interleaved float samples as a 32-bit float WAV file. Non-PCM data takes the fmt chunk's
 * cbSize field and a fact chunk (the RIFF spec's rule, which sox checks): the fmt chunk is 18
 * bytes, not PCM's 16.
 */
export function encodeWav(samples: Float32Array, sampleRate: number, channels = 1): Uint8Array {
  const wav = new wavefile.WaveFile();
  const data = channels === 1 ? samples : Array.from({ length: channels }, (_, c) => samples.filter((_, i) => i % channels === c));
  wav.fromScratch(channels, sampleRate, "32f", data as Float32Array);
  const fmt = wav.fmt as { chunkSize: number; cbSize: number };
  fmt.chunkSize = 18;
  fmt.cbSize = 0;
  wav.fact = { chunkId: "fact", chunkSize: 4, dwSampleLength: Math.floor(samples.length / channels) };
  return wav.toBuffer();
}

export async function writeWav(path: string, samples: Float32Array, sampleRate: number, channels = 1): Promise<void> {
  await writeFileNoFollow(path, encodeWav(samples, sampleRate, channels));
}

/** Reads a WAV file as float samples (first channel) and its sample rate. */
export async function readWav(path: string): Promise<{ samples: Float32Array; sampleRate: number }> {
  const wav = new wavefile.WaveFile(await readFile(path));
  wav.toBitDepth("32f");
  const raw = wav.getSamples(false, Float64Array) as unknown as Float64Array | Float64Array[];
  const first = Array.isArray(raw) ? raw[0] : raw;
  return { samples: Float32Array.from(first), sampleRate: (wav.fmt as { sampleRate: number }).sampleRate };
}

/** Reads a WAV file as float samples, every channel (the first channel first), and its sample rate. */
export async function readWavChannels(path: string): Promise<{ channels: Float32Array[]; sampleRate: number }> {
  const wav = new wavefile.WaveFile(await readFile(path));
  wav.toBitDepth("32f");
  const raw = wav.getSamples(false, Float64Array) as unknown as Float64Array | Float64Array[];
  const channels = (Array.isArray(raw) ? raw : [raw]).map((c) => Float32Array.from(c));
  return { channels, sampleRate: (wav.fmt as { sampleRate: number }).sampleRate };
}

/** RGB floats in [0, 1], interleaved (height, width, 3), as an 8-bit PNG. */
export function encodePng(rgb: Float32Array, width: number, height: number): Uint8Array {
  const png = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) png.data[i * 4 + c] = Math.round(Math.min(1, Math.max(0, rgb[i * 3 + c])) * 255);
    png.data[i * 4 + 3] = 255;
  }
  return PNG.sync.write(png);
}

export async function writePng(path: string, rgb: Float32Array, width: number, height: number): Promise<void> {
  await writeFileNoFollow(path, encodePng(rgb, width, height));
}
