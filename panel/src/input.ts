// Input: the microphone or a dropped/chosen audio file, sent to the plugin as WebSocket
// binary frames (the output's 32-byte header, stream id 3 "input"), so a person can try
// forward / encode on live sound from the browser. Web Audio runs at the model's rate,
// so the browser, not tfbend, converts the microphone's rate.
import type { App, View } from "./app.js";
import { $, fill, h } from "./dom.js";
import { methodIO } from "./methodio.js";
import { encodeFrame } from "../../src/protocol/index.js";

const CHUNK = 1024;

/** A mono chunk as an input frame (the protocol's frame, stream "input"). */
export function encodeInputFrame(seq: number, sampleRate: number, samples: Float32Array): ArrayBuffer {
  const frame = encodeFrame({ stream: "input", seq, sampleRate, frames: samples.length, channels: 1, width: 0, height: 0, data: samples });
  return frame.buffer as ArrayBuffer;
}

export class InputView implements View {
  parts = ["state" as const];
  private ctx: AudioContext | null = null;
  private media: MediaStream | null = null;
  private seq = 0;
  /** Chunks sent to the plugin (for tests and the stats line). */
  sent = 0;

  constructor(private readonly app: App) {
    const file = h("input", { type: "file", id: "in-file", accept: "audio/*", onchange: () => void this.fromFile(file.files?.[0]) });
    const box = h("section", { class: "box", id: "audio-in-box", hidden: true },
      h("div", { class: "box-head" }, h("h3", { id: "in-title" }, "Input"), h("span", { id: "in-stats", class: "muted small mono" })),
      h("div", { class: "row" },
        h("button", { id: "in-mic", onclick: () => void this.fromMicrophone() }, "Microphone"),
        h("label", { class: "muted" }, "file ", file),
        h("button", { id: "in-stop", onclick: () => void this.stop() }, "Stop")),
      h("p", { id: "in-hint", class: "muted small" }, "Sends the sound to the plugin; the method switches to forward if the current one takes latents."));
    box.addEventListener("dragover", (e) => e.preventDefault());
    box.addEventListener("drop", (e) => {
      e.preventDefault();
      void this.fromFile(e.dataTransfer?.files[0]);
    });
    $("#tab-output").append(box);
    app.register(this);
  }

  private key = "";

  /** Shown only for audio models (not the image model), saying where the sound goes. */
  render(app: App): void {
    const io = methodIO(app.state, app.status);
    const key = JSON.stringify([app.state?.kind, io]);
    if (key === this.key) return;
    this.key = key;
    $("#audio-in-box").hidden = app.state?.kind !== "audio";
    fill($("#in-title"), "Input ", h("span", { class: "muted" }, `(audio into ${io.input === "audio" ? io.method : "forward"})`));
    $("#in-hint").textContent = io.input === "audio"
      ? `Sends the sound to the plugin, into ${io.method}.`
      : `Sends the sound to the plugin; ${io.method} takes ${io.input === "latent" ? "latents" : "no input"}, so the method switches to forward.`;
  }

  onStatus(app: App): void {
    this.render(app);
  }

  /** The model's rate, and a method that takes audio, streaming. */
  private async prepare(): Promise<number> {
    await this.stop();
    const methods = await this.app.run("method");
    const takesAudio = (name: string) => {
      const v = methods.values;
      for (let i = 0; i + 4 < v.length; i += 5) if (v[i] === name) return v[i + 2] === 1;
      return false;
    };
    if (!takesAudio(this.app.state?.method ?? "")) await this.app.run("method", "forward");
    if (Number(this.app.status.streaming ?? 0) !== 1) await this.app.run("stream", "start");
    this.app.invalidate("state");
    return Number(this.app.status.sample_rate) || 44100;
  }

  private start(ctx: AudioContext, source: AudioNode): void {
    // ScriptProcessor: deprecated but everywhere, and needs no separate worklet file.
    const processor = ctx.createScriptProcessor(CHUNK, 1, 1);
    const mute = ctx.createGain();
    mute.gain.value = 0;
    processor.onaudioprocess = (e) => {
      const samples = Float32Array.from(e.inputBuffer.getChannelData(0));
      if (this.app.client.sendBinary(encodeInputFrame(this.seq++, ctx.sampleRate, samples))) this.sent++;
      $("#in-stats").textContent = `${this.sent} chunks sent · ${ctx.sampleRate} Hz`;
    };
    source.connect(processor);
    processor.connect(mute);
    mute.connect(ctx.destination);
  }

  async fromMicrophone(): Promise<void> {
    const rate = await this.prepare();
    this.media = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    this.ctx = new AudioContext({ sampleRate: rate, latencyHint: "interactive" });
    this.start(this.ctx, this.ctx.createMediaStreamSource(this.media));
    $("#in-mic").classList.add("on");
  }

  async fromFile(file: File | undefined): Promise<void> {
    if (!file) return;
    const rate = await this.prepare();
    this.ctx = new AudioContext({ sampleRate: rate });
    const buffer = await this.ctx.decodeAudioData(await file.arrayBuffer());
    const source = this.ctx.createBufferSource();
    source.buffer = buffer;
    source.loop = true;
    this.start(this.ctx, source);
    source.start();
  }

  async stop(): Promise<void> {
    for (const track of this.media?.getTracks() ?? []) track.stop();
    this.media = null;
    await this.ctx?.close();
    this.ctx = null;
    $("#in-mic").classList.remove("on");
  }
}
