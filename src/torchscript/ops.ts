// The whole op table: importing this file registers every op family below into
// op-table.ts's table, each once (the table refuses a name defined twice). The interpreter
// imports it before it looks ops up; torch 2.x's ops (ops-torch2.ts) are added by load.ts.
import "./ops-arithmetic.js";
import "./ops-math.js";
import "./ops-layers.js";
import "./ops-shapes.js";
import "./ops-factories.js";
import "./ops-python.js";
