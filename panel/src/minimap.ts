// A minimap for the graph view: the whole laid-out graph in a corner canvas, with the part
// the view shows outlined; click or drag in it to move the view there.
import type cytoscape from "cytoscape";

export class Minimap {
  readonly canvas: HTMLCanvasElement;
  private frame: number | null = null;
  /** Model coordinates → minimap pixels. */
  private scale = 1;
  private origin = { x: 0, y: 0 };

  constructor(private readonly cy: cytoscape.Core, parent: HTMLElement) {
    this.canvas = document.createElement("canvas");
    this.canvas.className = "minimap";
    this.canvas.width = 180;
    this.canvas.height = 130;
    this.canvas.title = "minimap: click or drag to move the view";
    parent.append(this.canvas);
    cy.on("viewport resize", () => this.redraw());
    let dragging = false;
    const go = (e: PointerEvent) => {
      const r = this.canvas.getBoundingClientRect();
      const mx = ((e.clientX - r.left) / r.width) * this.canvas.width;
      const my = ((e.clientY - r.top) / r.height) * this.canvas.height;
      const x = this.origin.x + mx / this.scale, y = this.origin.y + my / this.scale;
      const z = cy.zoom();
      cy.pan({ x: cy.width() / 2 - x * z, y: cy.height() / 2 - y * z });
    };
    this.canvas.addEventListener("pointerdown", (e) => {
      dragging = true;
      this.canvas.setPointerCapture(e.pointerId);
      go(e);
    });
    this.canvas.addEventListener("pointermove", (e) => dragging && go(e));
    this.canvas.addEventListener("pointerup", () => (dragging = false));
  }

  /** Redraws at the next animation frame (coalesces bursts of viewport events). */
  redraw(): void {
    if (this.frame !== null) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.draw();
    });
  }

  private draw(): void {
    const c = this.canvas, ctx = c.getContext("2d")!;
    const W = c.width, H = c.height, pad = 6;
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = "rgba(15, 18, 23, 0.92)";
    ctx.fillRect(0, 0, W, H);
    const els = this.cy.nodes();
    this.canvas.hidden = els.empty();
    if (els.empty()) return;
    const bb = els.boundingBox();
    this.scale = Math.min((W - 2 * pad) / Math.max(1, bb.w), (H - 2 * pad) / Math.max(1, bb.h));
    this.origin = { x: bb.x1 - (W / this.scale - bb.w) / 2, y: bb.y1 - (H / this.scale - bb.h) / 2 };
    const px = (x: number) => (x - this.origin.x) * this.scale;
    const py = (y: number) => (y - this.origin.y) * this.scale;
    els.forEach((n) => {
      const b = n.boundingBox({ includeLabels: false });
      if (n.isParent()) {
        ctx.strokeStyle = "#3a4457";
        ctx.lineWidth = 1;
        ctx.strokeRect(px(b.x1), py(b.y1), b.w * this.scale, b.h * this.scale);
        return;
      }
      ctx.fillStyle = n.hasClass("bended") ? "#ff8a3d" : n.hasClass("group-collapsed") ? "#4d6ea0" : "#5b6270";
      ctx.fillRect(px(b.x1), py(b.y1), Math.max(1.5, b.w * this.scale), Math.max(1.5, b.h * this.scale));
    });
    const v = this.cy.extent();
    ctx.strokeStyle = "#ffe066";
    ctx.lineWidth = 1.5;
    ctx.strokeRect(px(v.x1), py(v.y1), v.w * this.scale, v.h * this.scale);
  }
}
