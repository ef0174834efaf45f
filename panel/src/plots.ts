// Plots: uPlot for lines and histograms (fast canvas charts), and plain canvases for
// heat maps and image tiles (pixels, through a diverging colour map).
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { diverging } from "./dom.js";

export const COLORS = { original: "#56aaff", bended: "#ff8a3d", grid: "#272d38", axis: "#8b94a5", p95: "#ff5fa2" };

interface SeriesSpec {
  label: string;
  stroke: string;
  fill?: string;
  stepped?: boolean;
  width?: number;
}

export interface PlotOptions {
  height: number;
  series: SeriesSpec[];
  xLabel?: string;
  /** Fixed y range, or computed from the data. */
  yRange?: [number, number];
  /** x values are time (seconds since epoch): dates on the axis. */
  time?: boolean;
  legend?: boolean;
}

/** A uPlot chart that follows its container's width. */
export class Plot {
  readonly plot: uPlot;
  private readonly observer: ResizeObserver;
  private yRange: [number, number] | null;

  constructor(readonly container: HTMLElement, options: PlotOptions) {
    this.yRange = options.yRange ?? null;
    const axis = { stroke: COLORS.axis, grid: { stroke: COLORS.grid, width: 1 }, ticks: { stroke: COLORS.grid, width: 1 }, font: "11px system-ui, sans-serif" };
    const opts: uPlot.Options = {
      width: Math.max(120, container.clientWidth),
      height: options.height,
      legend: { show: options.legend ?? true, live: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: {
        x: { time: options.time ?? false },
        y: { range: (_u, min, max) => this.range(min, max) },
      },
      axes: [{ ...axis, label: options.xLabel, labelSize: options.xLabel ? 18 : 0, labelFont: "11px system-ui, sans-serif" }, { ...axis, size: 52 }],
      series: [
        {},
        ...options.series.map((s) => ({
          label: s.label,
          stroke: s.stroke,
          width: s.width ?? 1.25,
          fill: s.fill,
          points: { show: false },
          paths: s.stepped ? uPlot.paths.stepped!({ align: 1 }) : undefined,
        })),
      ],
    };
    this.plot = new uPlot(opts, [[], ...options.series.map(() => [])], container);
    this.observer = new ResizeObserver(() => {
      const w = Math.max(120, container.clientWidth);
      if (w !== this.plot.width) this.plot.setSize({ width: w, height: options.height });
    });
    this.observer.observe(container);
  }

  private range(min: number, max: number): uPlot.Range.MinMax {
    if (this.yRange) return [this.yRange[0], this.yRange[1]];
    if (!(max > min)) return [min - 1, max + 1];
    const pad = (max - min) * 0.05;
    return [min - pad, max + pad];
  }

  setYRange(range: [number, number] | null): void {
    this.yRange = range;
  }

  setData(x: ArrayLike<number>, ys: ArrayLike<number>[]): void {
    this.plot.setData([Array.from(x), ...ys.map((y) => Array.from(y))] as uPlot.AlignedData);
  }

  destroy(): void {
    this.observer.disconnect();
    this.plot.destroy();
  }
}

/** Draws rows × cols values as a heat map (diverging, symmetric around 0 with scale `m`). */
export function drawHeat(canvas: HTMLCanvasElement, data: ArrayLike<number>, rows: number, cols: number, m: number): void {
  canvas.width = cols;
  canvas.height = rows;
  const ctx = canvas.getContext("2d")!;
  const img = ctx.createImageData(cols, rows);
  const scale = m > 0 ? 1 / m : 1;
  for (let i = 0; i < rows * cols; i++) {
    const [r, g, b] = diverging(data[i] * scale);
    img.data[i * 4] = r;
    img.data[i * 4 + 1] = g;
    img.data[i * 4 + 2] = b;
    img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/** Draws `tiles` images of h × w in a near-square grid with 1-pixel gaps. */
export function drawTiles(canvas: HTMLCanvasElement, data: ArrayLike<number>, tiles: number, h: number, w: number, m: number): void {
  const across = Math.ceil(Math.sqrt(tiles));
  const down = Math.ceil(tiles / across);
  const W = across * (w + 1) - 1, H = down * (h + 1) - 1;
  canvas.width = W;
  canvas.height = H;
  const ctx = canvas.getContext("2d")!;
  const img = ctx.createImageData(W, H);
  for (let k = 0; k < W * H * 4; k += 4) {
    img.data[k] = 11;
    img.data[k + 1] = 13;
    img.data[k + 2] = 18;
    img.data[k + 3] = 255;
  }
  const scale = m > 0 ? 1 / m : 1;
  for (let t = 0; t < tiles; t++) {
    const ox = (t % across) * (w + 1), oy = Math.floor(t / across) * (h + 1);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const [r, g, b] = diverging(data[(t * h + y) * w + x] * scale);
        const k = ((oy + y) * W + ox + x) * 4;
        img.data[k] = r;
        img.data[k + 1] = g;
        img.data[k + 2] = b;
        img.data[k + 3] = 255;
      }
    }
  }
  ctx.putImageData(img, 0, 0);
}

/** Draws interleaved RGB floats in [0, 1] (the image stream's pixels). */
export function drawRGB(canvas: HTMLCanvasElement, data: Float32Array, width: number, height: number): void {
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d")!;
  const img = ctx.createImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) img.data[i * 4 + c] = Math.max(0, Math.min(255, Math.round(data[i * 3 + c] * 255)));
    img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/** A colour legend for heat maps: the diverging scale from −m to +m; update it with setLegend. */
export function heatLegend(): HTMLElement {
  const bar = document.createElement("canvas");
  bar.width = 128;
  bar.height = 1;
  const ctx = bar.getContext("2d")!;
  const img = ctx.createImageData(128, 1);
  for (let i = 0; i < 128; i++) {
    const [r, g, b] = diverging((i / 127) * 2 - 1);
    img.data.set([r, g, b, 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
  const el = document.createElement("div");
  el.className = "heat-legend";
  const label = (cls: string) => {
    const s = document.createElement("span");
    s.className = `mono ${cls}`;
    return s;
  };
  el.append(label("lo"), bar, label("hi"));
  setLegend(el, 1);
  return el;
}

export function setLegend(el: HTMLElement, m: number): void {
  const text = (v: number) => (Math.abs(v) >= 100 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(3))));
  el.querySelector(".lo")!.textContent = text(-m);
  el.querySelector(".hi")!.textContent = text(m);
  el.title = `colour scale: blue −${text(m)} · dark 0 · orange +${text(m)}`;
}
