// Atoms moved to the protocol (shared with the panel); this path stays for the transports' imports.
export * from "../protocol/atoms.js";
