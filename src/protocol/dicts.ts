// The dicts of the replies the panel reads (graph, weightstats, histogram, peek,
// callbacks, bendings, controls): the server builds them with these types, the panel
// draws from them.
import type { Atom } from "./atoms.js";

export interface GraphNode {
  name: string;
  op: string;
  target: string;
  inputs: string[];
  shape: string;
  bended: boolean;
}

/** `graph [fn]`. */
export interface GraphDict {
  method: string;
  nodes: GraphNode[];
}

export interface Stats {
  min: number;
  max: number;
  mean: number;
  std: number;
}

export interface WeightRow {
  name: string;
  shape: number[];
  size: number;
  bended: boolean;
  changed: boolean;
  original: Stats;
  current: Stats;
}

/** `weightstats`: each weight, original and as the next pass uses it. */
export interface WeightStatsDict {
  version: string;
  interpolation: Record<string, number> | null;
  weights: WeightRow[];
}

/** `histogram <weight> [bins]`. */
export interface HistogramDict {
  name: string;
  shape: number[];
  bins: number;
  lo: number;
  hi: number;
  changed: boolean;
  original: number[];
  current: number[];
  stats: { original: Stats; current: Stats };
}

export type ActivationLayout = "wave" | "heat" | "image";

/** An activation reduced for display (`peek`). */
export interface ActivationView {
  layout: ActivationLayout;
  /** wave: [length]; heat: [rows, cols]; image: [channels, height, width] (as sent, after reduction). */
  dims: number[];
  /** How the traced tensor was reduced to `dims` (e.g. "channels 0-15 of 64"). */
  note: string;
  data: number[];
  min: number;
  max: number;
}

/** One activation of `peek`: the original model's beside the bended one's. */
export interface PeekItem {
  name: string;
  shape: number[];
  original: ActivationView;
  bended: ActivationView;
}

/** One callback of `callbacks`. */
export interface CallbackInfo {
  type: string;
  weight: boolean;
  activation: boolean;
  /** Each argument with its default and declared domain (null: unbounded). */
  args: { name: string; value: Atom; min?: number | null; max?: number | null }[];
}

/** One entry of `bendings`. */
export interface BendingInfo {
  callback: string;
  patterns: string[];
}

/** One entry of `controls` (null: an open end). */
export interface ControlInfo {
  name: string;
  value: number;
  min: number | null;
  max: number | null;
  /** What moves it by itself (`lfo sine 0.5 0.2`, `env ...`, `follow ...`); absent when nothing does. */
  modulator?: string;
}
