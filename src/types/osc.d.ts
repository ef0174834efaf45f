// osc.js ships no types; tfbend uses this much of it.
declare module "osc" {
  interface OscPacketOptions {
    metadata?: boolean;
  }
  const osc: {
    UDPPort: new (options: { localAddress?: string; localPort?: number; metadata?: boolean; remoteAddress?: string; remotePort?: number }) => unknown;
    writePacket(packet: object, options?: OscPacketOptions): Uint8Array;
    readPacket(data: Uint8Array, options?: OscPacketOptions): unknown;
  };
  export default osc;
}
