// A few DOM helpers: h() builds elements, fmt() prints numbers compactly.
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, unknown>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v as EventListener);
    else if (k === "class") el.className = String(v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value" || k === "checked" || k === "disabled" || k === "selected" || k === "textContent") {
      (el as unknown as Record<string, unknown>)[k] = v;
    } else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el: Element, children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function $(selector: string): HTMLElement {
  const el = document.querySelector<HTMLElement>(selector);
  if (!el) throw new Error(`panel: no element ${selector}`);
  return el;
}

/** Replaces an element's children. */
export function fill(el: Element, ...children: (Child | Child[])[]): void {
  el.replaceChildren();
  append(el, children);
}

/** A number in at most 4 significant digits, exponent form for the very small or large. */
export function fmt(v: number | null | undefined, digits = 4): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(digits - 2).replace("e", "e");
  return String(Number(v.toPrecision(digits)));
}

/** Calls `fn` at most once per `ms`, always with the latest arguments (trailing call kept). */
export function throttle<A extends unknown[]>(fn: (...args: A) => void, ms: number): (...args: A) => void {
  let last = 0;
  let timer: number | null = null;
  let pending: A | null = null;
  return (...args: A) => {
    pending = args;
    const now = performance.now();
    const run = () => {
      timer = null;
      last = performance.now();
      const a = pending!;
      pending = null;
      fn(...a);
    };
    if (timer !== null) return;
    if (now - last >= ms) run();
    else timer = window.setTimeout(run, ms - (now - last));
  };
}

export function debounce(fn: () => void, ms: number): () => void {
  let timer: number | null = null;
  return () => {
    if (timer !== null) clearTimeout(timer);
    timer = window.setTimeout(() => {
      timer = null;
      fn();
    }, ms);
  };
}

/** Diverging colour map on a dark background: blue (−1) · near-black (0) · orange (+1). */
export function diverging(t: number): [number, number, number] {
  const x = Math.max(-1, Math.min(1, t));
  const m = Math.sqrt(Math.abs(x));
  const base = [17, 20, 27];
  const end = x < 0 ? [86, 170, 255] : [255, 146, 64];
  return [base[0] + (end[0] - base[0]) * m, base[1] + (end[1] - base[1]) * m, base[2] + (end[2] - base[2]) * m];
}

/**
 * The longest prefix (ending at a separator) that most names share, when it is long enough
 * to be worth eliding (converted models repeat a scope in every name); "" otherwise.
 */
export function sharedPrefix(names: readonly string[], separators = "._/", share = 0.9): string {
  if (names.length < 2) return "";
  const counts = new Map<string, number>();
  for (const n of names) {
    for (let i = 0; i < n.length - 1; i++) {
      if (separators.includes(n[i])) {
        const p = n.slice(0, i + 1);
        counts.set(p, (counts.get(p) ?? 0) + 1);
      }
    }
  }
  let best = "";
  for (const [p, c] of counts) if (c >= share * names.length && p.length > best.length) best = p;
  return best.length >= 12 ? best : "";
}
