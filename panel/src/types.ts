// The dicts of the command-table replies the panel reads (declared in src/protocol, which the server builds them with).
import type { Atom } from "./client.js";

export type {
  SessionState, GraphNode, GraphDict, Stats, WeightRow, WeightStatsDict, HistogramDict, ActivationView, PeekItem, CallbackInfo, BendingInfo, ControlInfo,
} from "../../src/protocol/index.js";

export type Status = Record<string, Atom>;
