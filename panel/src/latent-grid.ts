// The latent input of a model with many latent dimensions (the spatial image latent has 512),
// where one slider per dimension would fill pages: every value is one cell of a heat map
// (COLUMNS cells a row, diverging colours over −RANGE…RANGE), a click or drag over the map
// picks a cell, and one slider edits the picked value.
import { fmt, h } from "./dom.js";
import { drawHeat } from "./plots.js";

/** Latents up to this many dimensions get one slider each; longer ones get the grid. */
export const MAX_LATENT_SLIDERS = 32;
const COLUMNS = 32;
/** The sliders' range (as the per-dimension sliders have). */
export const LATENT_RANGE = 3;

export class LatentGrid {
  readonly element: HTMLElement;
  private values: number[];
  private selected = 0;
  private readonly canvas: HTMLCanvasElement;
  private readonly slider: HTMLInputElement;
  private readonly label: HTMLElement;
  private readonly valueLabel: HTMLElement;

  constructor(values: number[], private readonly onChange: (values: number[]) => void) {
    this.values = [...values];
    this.canvas = h("canvas", { id: "latent-grid", class: "latent-heat latent-grid", title: "click a cell to edit its value" });
    this.canvas.addEventListener("pointerdown", (e) => {
      this.pick(e);
      const move = (m: PointerEvent) => this.pick(m);
      this.canvas.addEventListener("pointermove", move);
      window.addEventListener("pointerup", () => this.canvas.removeEventListener("pointermove", move), { once: true });
    });
    this.slider = h("input", { type: "range", id: "latent-grid-slider", class: "slider", min: String(-LATENT_RANGE), max: String(LATENT_RANGE), step: "0.01",
      oninput: () => this.edit(Number(this.slider.value)) });
    this.label = h("span", { id: "latent-grid-label", class: "mono" });
    this.valueLabel = h("span", { class: "mono latent-value", id: "latent-grid-value" });
    this.element = h("div", { class: "latent-grid-wrap" },
      this.canvas,
      h("label", { class: "latent-row" }, this.label, this.slider, this.valueLabel),
      h("p", { class: "muted small" }, `${values.length} dimensions, ${COLUMNS} a row: click a cell, then move the slider.`));
    this.draw();
  }

  /** The values shown, in dimension order. */
  get current(): number[] {
    return [...this.values];
  }

  /** New values from the plugin (or the Random/Zero buttons); the slider follows unless it is being dragged. */
  update(values: number[]): void {
    if (values.length !== this.values.length) return;
    this.values = [...values];
    this.draw();
  }

  private pick(e: PointerEvent): void {
    const rect = this.canvas.getBoundingClientRect();
    const rows = Math.ceil(this.values.length / COLUMNS);
    const col = Math.min(COLUMNS - 1, Math.max(0, Math.floor(((e.clientX - rect.left) / rect.width) * COLUMNS)));
    const row = Math.min(rows - 1, Math.max(0, Math.floor(((e.clientY - rect.top) / rect.height) * rows)));
    this.selected = Math.min(this.values.length - 1, row * COLUMNS + col);
    this.draw();
  }

  private edit(value: number): void {
    this.values[this.selected] = value;
    this.draw();
    this.onChange(this.current);
  }

  private draw(): void {
    const rows = Math.ceil(this.values.length / COLUMNS);
    const padded = Float32Array.from({ length: rows * COLUMNS }, (_, i) => this.values[i] ?? 0);
    drawHeat(this.canvas, padded, rows, COLUMNS, LATENT_RANGE);
    // the picked cell, outlined
    const ctx = this.canvas.getContext("2d")!;
    const pixel = ctx.getImageData(this.selected % COLUMNS, Math.floor(this.selected / COLUMNS), 1, 1);
    pixel.data.set([255, 255, 255, 255]);
    ctx.putImageData(pixel, this.selected % COLUMNS, Math.floor(this.selected / COLUMNS));
    const v = this.values[this.selected];
    this.label.textContent = `z${this.selected}`;
    if (document.activeElement !== this.slider) this.slider.value = String(v);
    this.valueLabel.textContent = fmt(v, 3);
  }
}
