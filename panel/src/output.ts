// The Output tab: the streamed output as the page receives it (binary WebSocket frames):
// audio played through Web Audio and drawn as a waveform, a latent stream (encode) as a
// scrolling heat map, or the image model's frames; plus what the method takes as input
// (latent sliders, or a note that it takes audio or nothing) and stream start/stop.
import type { App, View } from "./app.js";
import type { Block, ChangeEvent } from "./client.js";
import { $, fill, fmt, h, throttle } from "./dom.js";
import { LatentGrid, MAX_LATENT_SLIDERS } from "./latent-grid.js";
import { methodIO, type MethodIO } from "./methodio.js";
import { COLORS, Plot, drawHeat, drawRGB, heatLegend, setLegend } from "./plots.js";

/** Latent frames kept for the scrolling heat map. */
const LATENT_HISTORY = 256;
/** Seconds over which blocks/s is counted. */
const RATE_WINDOW_MS = 2000;


export class OutputView implements View {
  parts = ["state" as const];
  private ctx: AudioContext | null = null;
  private gain: GainNode | null = null;
  private next = 0;
  private latest: Block | null = null;
  private drawn = -1;
  private plot: Plot | null = null;
  private latentKey = "";
  /** The latent editor of a long latent (null while the input is sliders, audio or nothing). */
  private grid: LatentGrid | null = null;
  /** Latent frames, oldest first, each `channels` values. */
  private latentFrames: Float32Array[] = [];
  private readonly legend = heatLegend();
  received = 0;
  /** Latent frames received (for tests). */
  latentReceived = 0;
  /** Audio blocks scheduled for playback in this page. */
  scheduled = 0;
  private readonly times: number[] = [];
  private io: MethodIO | null = null;
  // values as they are: rounding here would move the dimensions nobody touched (an anchor's, a patch's)
  private readonly sendLatent = throttle((values: number[]) => void this.app.run("input", ...values), 50);

  constructor(private readonly app: App) {
    const volume = h("input", { type: "range", id: "volume", class: "slider short", min: "0", max: "1", step: "0.01", value: "0.6" });
    volume.addEventListener("input", () => this.gain && (this.gain.gain.value = Number(volume.value)));
    fill($("#tab-output"),
      h("section", { class: "box" },
        h("div", { class: "box-head" }, h("h3", { id: "out-title" }, "Output"), h("span", { id: "out-stats", class: "muted small mono" })),
        h("div", { class: "row" },
          h("button", { id: "out-stream", onclick: () => this.toggleStream() }, "Start stream"),
          h("button", { id: "out-listen", onclick: () => void this.toggleListen() }, "Listen"),
          h("label", { id: "out-volume", class: "muted" }, "volume ", volume)),
        h("div", { id: "out-wave", class: "plot" }),
        h("div", { id: "out-latent-wrap", hidden: true },
          h("canvas", { id: "out-latent", class: "latent-heat" }),
          h("div", { class: "row nowrap small muted" }, h("span", { id: "out-latent-axes" }, "channels ↓ · time →"), this.legend)),
        h("div", { id: "out-image-wrap", class: "image-wrap", hidden: true }, h("canvas", { id: "out-image", width: 64, height: 64 })),
        h("p", { id: "out-hint", class: "muted small" })),
      h("section", { class: "box", id: "in-box" },
        h("div", { class: "box-head" }, h("h3", { id: "latent-title" }, "Latent input ", h("span", { class: "muted" }, "(input)")),
          h("span", { id: "latent-buttons" }, h("button", { onclick: () => void this.setLatent("random") }, "Random"), " ", h("button", { onclick: () => void this.setLatent("zero") }, "Zero"))),
        h("div", { id: "latent", class: "latent" })));
    $("#listen").addEventListener("click", () => void this.toggleListen());
    $("#stream").addEventListener("click", () => this.toggleStream());
    app.client.on("block", (b) => this.onBlock(b));
    const frame = () => {
      this.draw();
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
    window.setInterval(() => this.stats(), 500);
  }

  /** The method's figures come with `status`: redraw the panes when they change. */
  onStatus(app: App): void {
    const io = methodIO(app.state, app.status);
    if (JSON.stringify(io) !== JSON.stringify(this.io)) this.render(app);
  }

  /** A new model: nothing of the old one's output stays on screen. */
  event(_app: App, e: ChangeEvent): void {
    if (e.command !== "load" && e.command !== "method") return;
    this.latest = null;
    this.latentFrames = [];
    this.times.length = 0;
    this.received = 0;
    this.drawn = -1;
    this.plot?.setData([], [[]]);
    this.stats();
  }

  private toggleStream(): void {
    const streaming = Number(this.app.status.streaming ?? 0) === 1;
    void this.app.run("stream", streaming ? "stop" : "start").then(() => this.app.invalidate("state"));
  }

  private async toggleListen(): Promise<void> {
    if (this.ctx) {
      await this.ctx.close();
      this.ctx = null;
      this.gain = null;
    } else {
      this.ctx = new AudioContext({ latencyHint: "interactive" });
      this.gain = this.ctx.createGain();
      this.gain.gain.value = Number(($("#volume") as HTMLInputElement).value);
      this.gain.connect(this.ctx.destination);
      this.next = 0;
      if (Number(this.app.status.streaming ?? 0) !== 1 && this.app.state?.kind === "audio") this.toggleStream();
    }
    for (const id of ["#listen", "#out-listen"]) {
      $(id).classList.toggle("on", this.ctx !== null);
      $(id).textContent = this.ctx ? "Listening" : "Listen";
    }
  }

  private onBlock(block: Block): void {
    this.received++;
    this.latest = block;
    const now = performance.now();
    this.times.push(now);
    while (this.times.length && now - this.times[0] > RATE_WINDOW_MS) this.times.shift();
    const kind = block.stream;
    if (kind === "latent") {
      // channel after channel: frame f of channel c at c * frames + f
      for (let f = 0; f < block.frames; f++) {
        const col = new Float32Array(block.channels);
        for (let c = 0; c < block.channels; c++) col[c] = block.data[c * block.frames + f];
        this.latentFrames.push(col);
      }
      this.latentReceived += block.frames;
      if (this.latentFrames.length > LATENT_HISTORY) this.latentFrames.splice(0, this.latentFrames.length - LATENT_HISTORY);
    }
    if (kind === "audio" && this.ctx && this.gain) {
      const ctx = this.ctx;
      const buffer = ctx.createBuffer(1, block.frames, block.sampleRate);
      buffer.copyToChannel(block.data as Float32Array<ArrayBuffer>, 0);
      const src = ctx.createBufferSource();
      src.buffer = buffer;
      src.connect(this.gain);
      const t = ctx.currentTime;
      if (this.next < t + 0.01 || this.next > t + 0.6) this.next = t + 0.09; // (re)start with a small cushion
      src.start(this.next);
      this.scheduled++;
      this.next += buffer.duration;
    }
  }

  /** Blocks per second over the last two seconds (0 once they stop coming). */
  get rate(): number {
    const now = performance.now();
    const recent = this.times.filter((t) => now - t <= RATE_WINDOW_MS);
    if (recent.length < 2) return 0;
    return ((recent.length - 1) * 1000) / Math.max(now - recent[0], recent[recent.length - 1] - recent[0]);
  }

  private stats(): void {
    const b = this.latest;
    const rate = this.rate;
    const el = document.getElementById("out-stats");
    if (el) el.textContent = b ? `block ${b.seq} · ${this.received} received · ${rate.toFixed(1)} blocks/s` : "";
    if (this.io) this.hint(this.io, rate);
  }

  private draw(): void {
    const b = this.latest;
    if (!b || b.seq === this.drawn || this.app.activeTab !== "output") return;
    this.drawn = b.seq;
    const kind = b.stream;
    $("#out-wave").hidden = kind !== "audio";
    $("#out-image-wrap").hidden = kind !== "image";
    $("#out-latent-wrap").hidden = kind !== "latent";
    if (kind === "image") {
      drawRGB($("#out-image") as HTMLCanvasElement, b.data, b.width, b.height);
      return;
    }
    if (kind === "latent") {
      this.drawLatent(b);
      return;
    }
    if (!this.plot) {
      this.plot = new Plot($("#out-wave"), { height: 200, legend: false, yRange: [-1, 1], xLabel: "ms", series: [{ label: "output", stroke: COLORS.bended, width: 1 }] });
    }
    const ms = 1000 / b.sampleRate;
    // Audio: the samples of the first channel; latent (encode): the first latent channel.
    this.plot.setData(Array.from({ length: b.frames }, (_, i) => i * ms), [b.data.subarray(0, b.frames)]);
  }

  /** The latent history as channels × time, newest on the right, scaled to its largest magnitude. */
  private drawLatent(b: Block): void {
    const frames = this.latentFrames;
    const rows = b.channels, cols = Math.max(1, frames.length);
    const grid = new Float32Array(rows * cols);
    let m = 0;
    frames.forEach((col, t) => {
      for (let c = 0; c < rows; c++) {
        const v = col[c] ?? 0;
        grid[c * cols + t] = v;
        if (Number.isFinite(v)) m = Math.max(m, Math.abs(v));
      }
    });
    drawHeat($("#out-latent") as HTMLCanvasElement, grid, rows, cols, m || 1);
    setLegend(this.legend, m || 1);
    const seconds = (cols / (b.sampleRate || 1)).toFixed(1);
    $("#out-latent-axes").textContent = `${rows} channels ↓ · last ${cols} frames (${seconds} s) →`;
  }

  private hint(io: MethodIO, rate: number): void {
    const s = this.app.state;
    const streaming = s?.streaming ?? false;
    const noInput = io.input === "audio" && String(this.app.status.audio_in ?? "none") === "none";
    $("#out-hint").textContent = io.output === "none"
      ? `Model '${s?.model ?? "none"}' is neither an audio nor an image model: it does not stream.`
      : !streaming ? `Start the stream to see${io.output === "audio" ? " (and hear)" : ""} the output.`
        : noInput && rate === 0 ? `${io.method} takes audio and none is arriving, so it gives nothing: send sound with Input below (microphone or a file), or from a patch.`
          : "";
  }

  render(app: App): void {
    const s = app.state;
    const io = methodIO(s, app.status);
    this.io = io;
    const streaming = s?.streaming ?? false;
    const button = $("#out-stream");
    button.textContent = streaming ? "Stop stream" : "Start stream";
    button.classList.toggle("on", streaming);
    $("#out-title").textContent = io.output === "audio" ? `Audio output · ${io.method}`
      : io.output === "latent" ? `Latent output · ${io.method} (${io.outChannels} channels)`
        : io.output === "image" ? "Image output" : "Output";
    const audible = io.output === "audio";
    $("#out-listen").hidden = !audible;
    $("#out-volume").hidden = !audible;
    ($("#out-listen") as HTMLButtonElement).disabled = !audible;
    ($("#listen") as HTMLButtonElement).disabled = !audible;
    $("#listen").hidden = s?.kind !== "audio";
    ($("#out-stream") as HTMLButtonElement).disabled = io.output === "none";
    this.hint(io, this.rate);
    if (this.latest && this.latest.stream !== io.output) {
      this.latest = null;
      this.drawn = -1;
    }
    $("#out-wave").hidden = io.output !== "audio";
    $("#out-image-wrap").hidden = io.output !== "image" || !this.latest;
    $("#out-latent-wrap").hidden = io.output !== "latent";
    this.inputPane(io, s?.latent ?? []);
  }

  /** What the method takes: latent sliders, or a note that it takes audio or nothing. */
  private inputPane(io: MethodIO, latent: number[]): void {
    const key = `${this.app.state?.model}:${io.method}:${io.input}:${latent.length}`;
    const box = $("#latent");
    $("#latent-buttons").hidden = io.input !== "latent";
    if (key !== this.latentKey) {
      this.latentKey = key;
      this.grid = null;
      fill($("#latent-title"), io.input === "latent" ? "Latent input " : `Input of ${io.method} `, h("span", { class: "muted" }, io.input === "latent" ? `(input · ${io.method})` : `(${io.input === "audio" ? "audio" : "none"})`));
      if (io.input === "audio") {
        fill(box, h("p", { class: "muted", id: "latent-note" }, `${io.method} takes audio (${io.inChannels} channel${io.inChannels === 1 ? "" : "s"}), not latents: send sound with Input below — the microphone or a sound file — or from a patch.`));
      } else if (io.input === "none" || latent.length === 0) {
        fill(box, h("p", { class: "muted", id: "latent-note" }, `${io.method || "This method"} takes no input.`));
      } else if (latent.length > MAX_LATENT_SLIDERS) {
        this.grid = new LatentGrid(latent, (values) => this.sendLatent(values));
        fill(box, this.grid.element);
      } else {
        fill(box, ...latent.map((v, i) => h("label", { class: "latent-row" }, h("span", { class: "mono" }, `z${i}`),
          h("input", { type: "range", class: "slider", min: "-3", max: "3", step: "0.01", value: String(v), dataset: { i: String(i) }, oninput: () => this.sendLatent(this.latentValues()) }),
          h("span", { class: "mono latent-value" }, fmt(v)))));
      }
    }
    if (this.grid) {
      this.grid.update(latent);
      return;
    }
    box.querySelectorAll<HTMLInputElement>("input").forEach((el, i) => {
      if (document.activeElement !== el && latent[i] !== undefined) el.value = String(latent[i]);
      const label = el.parentElement?.querySelector(".latent-value");
      if (label && latent[i] !== undefined) label.textContent = fmt(latent[i], 3);
    });
  }

  private latentValues(): number[] {
    const values = [...document.querySelectorAll<HTMLInputElement>("#latent input")].map((el) => Number(el.value));
    document.querySelectorAll<HTMLElement>("#latent .latent-value").forEach((el, i) => (el.textContent = fmt(values[i], 3)));
    return values;
  }

  private async setLatent(how: "random" | "zero"): Promise<void> {
    let values: number[];
    if (how === "random") {
      // the plugin draws where the model's outputs lie (an anchor picture, its latent statistics)
      const reply = await this.app.run("input", "random");
      if (!reply.ok) return;
      values = reply.values.slice(1).map(Number);
    } else {
      values = (this.grid ? this.grid.current : this.latentValues()).map(() => 0);
      this.sendLatent(values);
    }
    if (this.grid) {
      this.grid.update(values);
      return;
    }
    document.querySelectorAll<HTMLInputElement>("#latent input").forEach((el, i) => (el.value = String(values[i] ?? 0)));
    document.querySelectorAll<HTMLElement>("#latent .latent-value").forEach((el, i) => (el.textContent = fmt(values[i] ?? 0, 3)));
  }
}
