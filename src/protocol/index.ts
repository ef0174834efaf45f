// The protocol every transport speaks and the browser panel decodes: atoms, replies,
// the command vocabulary with each command's effect, output blocks and the binary frame.
// Plain TypeScript without Node: panel/ bundles these very files.
export * from "./atoms.js";
export * from "./reply.js";
export * from "./commands.js";
export * from "./frame.js";
export * from "./session-state.js";
export * from "./dicts.js";
