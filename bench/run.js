// npm run bench: every benchmark, printed as Markdown tables.
import { printCore, runCore } from "./core.js";

printCore(runCore());
