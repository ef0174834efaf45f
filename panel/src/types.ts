// The dicts of the command-table replies the panel reads.
import type { Atom } from "./client.js";

export type { SessionState } from "../../src/protocol/index.js";

export interface GraphNode {
  name: string;
  op: string;
  target: string;
  inputs: string[];
  shape: string;
  bended: boolean;
}

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

export interface WeightStatsDict {
  version: string;
  interpolation: Record<string, number> | null;
  weights: WeightRow[];
}

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

export interface ActivationView {
  layout: "wave" | "heat" | "image";
  dims: number[];
  note: string;
  data: number[];
  min: number;
  max: number;
}

export interface PeekItem {
  name: string;
  shape: number[];
  original: ActivationView;
  bended: ActivationView;
}

export interface CallbackInfo {
  type: string;
  weight: boolean;
  activation: boolean;
  /** Each argument with its default and declared domain (null: unbounded). */
  args: { name: string; value: Atom; min?: number | null; max?: number | null }[];
}

export interface BendingInfo {
  callback: string;
  patterns: string[];
}

export interface ControlInfo {
  name: string;
  value: number;
  min: number | null;
  max: number | null;
}

export type Status = Record<string, Atom>;
