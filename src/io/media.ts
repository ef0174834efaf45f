// Offline renders: WAV (32-bit float, for buffer~ replace) and PNG (for jit.matrix read).
import wavefile from "wavefile";
import { PNG } from "pngjs";
import { writeFileNoFollow } from "./files.js";

export async function writeWav(path: string, samples: Float32Array, sampleRate: number, channels = 1): Promise<void> {
  const wav = new wavefile.WaveFile();
  const data = channels === 1 ? samples : Array.from({ length: channels }, (_, c) => samples.filter((_, i) => i % channels === c));
  wav.fromScratch(channels, sampleRate, "32f", data as Float32Array);
  await writeFileNoFollow(path, wav.toBuffer());
}

/** Reads a WAV file as float samples (first channel) and its sample rate. */
export async function readWav(path: string): Promise<{ samples: Float32Array; sampleRate: number }> {
  const { readFile } = await import("node:fs/promises");
  const wav = new wavefile.WaveFile(await readFile(path));
  wav.toBitDepth("32f");
  const raw = wav.getSamples(false, Float64Array) as unknown as Float64Array | Float64Array[];
  const first = Array.isArray(raw) ? raw[0] : raw;
  return { samples: Float32Array.from(first), sampleRate: (wav.fmt as { sampleRate: number }).sampleRate };
}

/** RGB floats in [0, 1], interleaved (height, width, 3), as an 8-bit PNG. */
export async function writePng(path: string, rgb: Float32Array, width: number, height: number): Promise<void> {
  const png = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) png.data[i * 4 + c] = Math.round(Math.min(1, Math.max(0, rgb[i * 3 + c])) * 255);
    png.data[i * 4 + 3] = 255;
  }
  await writeFileNoFollow(path, PNG.sync.write(png));
}
