// The Output tab: the streamed output as the page receives it (binary WebSocket frames):
// audio played through Web Audio and drawn as a waveform, or the image model's frames;
// plus the latent the stream decodes ('input') and stream start/stop.
import type { App, View } from "./app.js";
import type { Block } from "./client.js";
import { $, fill, fmt, h, throttle } from "./dom.js";
import { COLORS, Plot, drawRGB } from "./plots.js";

export class OutputView implements View {
  parts = ["state" as const];
  private ctx: AudioContext | null = null;
  private gain: GainNode | null = null;
  private next = 0;
  private latest: Block | null = null;
  private drawn = -1;
  private plot: Plot | null = null;
  private latentKey = "";
  received = 0;
  /** Audio blocks scheduled for playback in this page. */
  scheduled = 0;
  private readonly times: number[] = [];
  private readonly sendLatent = throttle((values: number[]) => void this.app.run("input", ...values.map((v) => Number(v.toFixed(3)))), 50);

  constructor(private readonly app: App) {
    const volume = h("input", { type: "range", id: "volume", class: "slider short", min: "0", max: "1", step: "0.01", value: "0.6" });
    volume.addEventListener("input", () => this.gain && (this.gain.gain.value = Number(volume.value)));
    fill($("#tab-output"),
      h("section", { class: "box" },
        h("div", { class: "box-head" }, h("h3", { id: "out-title" }, "Output"), h("span", { id: "out-stats", class: "muted small mono" })),
        h("div", { class: "row" },
          h("button", { id: "out-stream", onclick: () => this.toggleStream() }, "Start stream"),
          h("button", { id: "out-listen", onclick: () => void this.toggleListen() }, "Listen"),
          h("label", { class: "muted" }, "volume ", volume)),
        h("div", { id: "out-wave", class: "plot" }),
        h("div", { id: "out-image-wrap", class: "image-wrap", hidden: true }, h("canvas", { id: "out-image", width: 64, height: 64 })),
        h("p", { id: "out-hint", class: "muted small" })),
      h("section", { class: "box" },
        h("div", { class: "box-head" }, h("h3", {}, "Latent input ", h("span", { class: "muted" }, "(input)")),
          h("span", {}, h("button", { onclick: () => this.setLatent("random") }, "Random"), " ", h("button", { onclick: () => this.setLatent("zero") }, "Zero"))),
        h("div", { id: "latent", class: "latent" })));
    $("#listen").addEventListener("click", () => void this.toggleListen());
    $("#stream").addEventListener("click", () => this.toggleStream());
    app.client.on("block", (b) => this.onBlock(b));
    const frame = () => {
      this.draw();
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
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
    while (this.times.length && now - this.times[0] > 2000) this.times.shift();
    if (block.stream === "audio" && this.ctx && this.gain) {
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

  private draw(): void {
    const b = this.latest;
    if (!b || b.seq === this.drawn || this.app.activeTab !== "output") return;
    this.drawn = b.seq;
    const rate = this.times.length > 1 ? ((this.times.length - 1) * 1000) / (this.times[this.times.length - 1] - this.times[0]) : 0;
    $("#out-stats").textContent = `block ${b.seq} · ${this.received} received · ${rate.toFixed(1)} blocks/s`;
    const image = b.stream === "image";
    $("#out-wave").hidden = image;
    $("#out-image-wrap").hidden = !image;
    if (image) {
      drawRGB($("#out-image") as HTMLCanvasElement, b.data, b.width, b.height);
      return;
    }
    if (!this.plot) {
      this.plot = new Plot($("#out-wave"), { height: 200, legend: false, yRange: [-1, 1], xLabel: "ms", series: [{ label: "output", stroke: COLORS.bended, width: 1 }] });
    }
    const ms = 1000 / b.sampleRate;
    // Audio: the samples of the first channel; latent (encode): the first latent channel.
    this.plot.setData(Array.from({ length: b.frames }, (_, i) => i * ms), [b.data.subarray(0, b.frames)]);
  }

  render(app: App): void {
    const s = app.state;
    const streaming = s?.streaming ?? false;
    const button = $("#out-stream");
    button.textContent = streaming ? "Stop stream" : "Start stream";
    button.classList.toggle("on", streaming);
    const kind = s?.kind ?? "generic";
    $("#out-title").textContent = kind === "audio" ? "Audio output" : kind === "image" ? "Image output" : "Output";
    ($("#out-listen") as HTMLButtonElement).disabled = kind !== "audio";
    ($("#listen") as HTMLButtonElement).disabled = kind !== "audio";
    ($("#out-stream") as HTMLButtonElement).disabled = kind === "generic";
    $("#out-hint").textContent = kind === "generic"
      ? `Model '${s?.model ?? "none"}' is neither an audio nor an image model: it does not stream.`
      : streaming ? "" : "Start the stream to see (and hear) the output.";
    if (this.latest && (this.latest.stream === "image") !== (kind === "image")) this.latest = null;
    const latent = s?.latent ?? [];
    const key = `${s?.model}:${latent.length}`;
    const box = $("#latent");
    if (key !== this.latentKey) {
      this.latentKey = key;
      if (latent.length === 0) fill(box, h("p", { class: "muted" }, "This model takes no latent input."));
      else fill(box, ...latent.map((v, i) => h("label", { class: "latent-row" }, h("span", { class: "mono" }, `z${i}`),
        h("input", { type: "range", class: "slider", min: "-3", max: "3", step: "0.01", value: String(v), dataset: { i: String(i) }, oninput: () => this.sendLatent(this.latentValues()) }),
        h("span", { class: "mono latent-value" }, fmt(v)))));
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

  private setLatent(how: "random" | "zero"): void {
    const inputs = [...document.querySelectorAll<HTMLInputElement>("#latent input")];
    for (const el of inputs) {
      // Box–Muller: a standard normal draw, the latent prior
      const r = Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
      el.value = String(how === "zero" ? 0 : Math.max(-3, Math.min(3, r)));
    }
    this.sendLatent(this.latentValues());
  }
}
