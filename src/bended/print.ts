// The tables a bended module prints: its weights with statistics, a method's activations.
import type { Module } from "../nn/module.js";
import { formatRecordedShape, type Graph } from "../graph/graph.js";
import { formatShape, tabulate, type Cell } from "../util/format.js";
import { statistics } from "../util/stats.js";
import { replaceFileSync } from "../formats/replace-file.js";

export interface PrintOptions {
  silent?: boolean;
  /** Also write the table to this file. */
  out?: string;
}

/** Prints `table` unless silent, writes it to `out` if given, and returns it. */
export function emit(table: string, options: PrintOptions): string {
  if (options.out) replaceFileSync(options.out, table + "\n");
  if (!options.silent) console.log(table);
  return table;
}

/** Weights with shape, dtype and statistics (name, shape, dtype, min, max, mean, stddev). */
export function weightTable(module: Module): string {
  const rows: Cell[][] = module.namedParameters().map(([name, p]) => {
    const { min, max, mean, std } = statistics(p.data.dataSync());
    return [name, formatShape(p.shape), p.data.dtype, min, max, mean, std];
  });
  return tabulate(rows, ["name", "shape", "dtype", "min", "max", "mean", "stddev"]);
}

/** Activations of a traced graph: name, opcode, traced shape. */
export function activationTable(graph: Graph): string {
  return tabulate(graph.activationNodes().map((n) => [n.name, n.op, formatRecordedShape(n.shape)]));
}
