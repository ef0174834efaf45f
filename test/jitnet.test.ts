// The Jitter network sender against a stand-in for jit.net.recv: a TCP server on
// 127.0.0.1 that parses chunks and matrix headers itself (explicit offsets and byte
// order, not the module's decoder), answers with JMLP latency packets, and can
// disappear, hang up mid-stream or stop reading.
import { afterEach, describe, expect, it } from "vitest";
import { createServer, type Server, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import * as tb from "tfbend";

const { JitterSender, JitterChunkParser, decodeMatrixPacket, encodeLatencyPacket, encodeMatrixPacket, rgbToArgb } = tb.transports;
type OutputBlock = tb.control.OutputBlock;

const HOST = "127.0.0.1";

function audioBlock(frames: number, seq = 0): OutputBlock {
  const data = new Float32Array(frames);
  for (let i = 0; i < frames; i++) data[i] = Math.sin(0.01 * i + seq) * 0.8 - 1e-7 * i;
  return { stream: "audio", seq, sampleRate: 44100, frames, channels: 1, width: 0, height: 0, data };
}

function imageBlock(width: number, height: number, seq = 0): OutputBlock {
  const data = new Float32Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 7919 + seq) % 1000) / 999;
  return { stream: "image", seq, sampleRate: 0, frames: 1, channels: 3, width, height, data };
}

interface Parsed {
  chunkId: string;
  chunkSize: number;
  headerId: string;
  headerSize: number;
  planecount: number;
  type: number;
  dimcount: number;
  dim: number[];
  dimstride: number[];
  datasize: number;
  time: number;
  data: Float32Array;
}

/**
 * Parses one JMTX chunk at the start of buf per the Max SDK's "Jitter Networking
 * Specification", byte order as jit.net.send sends it: chunk id ASCII + size int32 LE;
 * matrix header id 'JMTX' as a LE int ("XTMJ"), other fields big-endian; data float32 BE
 * read through the dimstrides (bytes). Returns null until the whole packet is there.
 */
function parseChunk(buf: Buffer): { packet: Parsed; bytes: number } | null {
  if (buf.length < 8) return null;
  const chunkId = buf.toString("latin1", 0, 4);
  const chunkSize = buf.readInt32LE(4);
  if (buf.length < 8 + chunkSize) return null;
  const h = 8;
  const datasize = buf.readInt32BE(h + 276);
  if (buf.length < 8 + chunkSize + datasize) return null;
  const dimcount = buf.readInt32BE(h + 16);
  const dim: number[] = [];
  const dimstride: number[] = [];
  for (let i = 0; i < 32; i++) {
    dim.push(buf.readInt32BE(h + 20 + 4 * i));
    dimstride.push(buf.readInt32BE(h + 148 + 4 * i));
  }
  const planecount = buf.readInt32BE(h + 8);
  const d = 8 + chunkSize;
  const width = dim[0];
  const height = dimcount > 1 ? dim[1] : 1;
  const data = new Float32Array(width * height * planecount);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let p = 0; p < planecount; p++) {
        data[(y * width + x) * planecount + p] = buf.readFloatBE(d + y * (dimcount > 1 ? dimstride[1] : 0) + x * dimstride[0] + 4 * p);
      }
    }
  }
  return {
    packet: {
      chunkId, chunkSize, headerId: buf.toString("latin1", h, h + 4), headerSize: buf.readInt32BE(h + 4), planecount,
      type: buf.readInt32BE(h + 12), dimcount, dim, dimstride, datasize, time: buf.readDoubleBE(h + 280), data,
    },
    bytes: 8 + chunkSize + datasize,
  };
}

type AckStyle = "none" | "struct-be" | "chunk-le";

/** JMLP reply: the t_jit_net_packet_latency struct (int32 id, padding, 3 doubles), in two plausible encodings. */
function latencyAck(style: AckStyle, clientTime: number, before: number, after: number): Buffer {
  if (style === "struct-be") {
    const b = Buffer.alloc(32);
    b.write("JMLP", 0, "latin1");
    b.writeDoubleBE(clientTime, 8);
    b.writeDoubleBE(before, 16);
    b.writeDoubleBE(after, 24);
    return b;
  }
  const b = Buffer.alloc(8 + 28); // chunk header, then a packed struct with LE doubles
  b.write("JMLP", 0, "latin1");
  b.writeInt32LE(28, 4);
  b.write("PLMJ", 8, "latin1");
  b.writeDoubleLE(clientTime, 12);
  b.writeDoubleLE(before, 20);
  b.writeDoubleLE(after, 28);
  return b;
}

class FakeJitNetRecv {
  readonly server: Server;
  readonly packets: Parsed[][] = []; // per connection
  readonly sockets: Socket[] = [];
  readonly errors: Error[] = [];
  ack: AckStyle = "none";
  onPacket: ((packet: Parsed, socket: Socket, connection: number) => void) | null = null;

  constructor() {
    this.server = createServer((socket) => {
      const connection = this.packets.length;
      this.packets.push([]);
      this.sockets.push(socket);
      let rx = Buffer.alloc(0);
      socket.on("error", (e) => this.errors.push(e));
      socket.on("data", (chunk) => {
        const before = performance.now();
        rx = Buffer.concat([rx, chunk]);
        for (let got = parseChunk(rx); got; got = parseChunk(rx)) {
          rx = rx.subarray(got.bytes);
          this.packets[connection].push(got.packet);
          if (this.ack !== "none" && !socket.destroyed) socket.write(latencyAck(this.ack, got.packet.time, before, performance.now()));
          this.onPacket?.(got.packet, socket, connection);
        }
      });
    });
  }

  listen(port = 0): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, HOST, () => resolve((this.server.address() as { port: number }).port));
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  get all(): Parsed[] {
    return this.packets.flat();
  }
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function freePort(): Promise<number> {
  const probe = new FakeJitNetRecv();
  const port = await probe.listen();
  await probe.close();
  return port;
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function track<T extends { close(): Promise<void> }>(x: T): T {
  cleanup.push(() => x.close());
  return x;
}

function expectHeader(p: Parsed, planecount: number, dim: number[], floats: Float32Array): void {
  expect(p.chunkId).toBe("JMTX");
  expect(p.chunkSize).toBe(288);
  expect(p.headerId).toBe("XTMJ");
  expect(p.headerSize).toBe(288);
  expect(p.planecount).toBe(planecount);
  expect(p.type).toBe(2); // float32
  expect(p.dimcount).toBe(dim.length);
  expect(p.dim.slice(0, dim.length)).toEqual(dim);
  expect(p.dim.slice(dim.length).every((v) => v === 1)).toBe(true);
  const strides = [4 * planecount];
  for (let i = 1; i < dim.length; i++) strides.push(strides[i - 1] * dim[i - 1]);
  expect(p.dimstride.slice(0, dim.length)).toEqual(strides);
  expect(p.dimstride.slice(dim.length).every((v) => v === 0)).toBe(true);
  expect(p.datasize).toBe(strides[dim.length - 1] * dim[dim.length - 1]);
  expect(Array.from(p.data)).toEqual(Array.from(floats)); // bit-exact float32 round trip
}

describe("Jitter matrix packets", () => {
  it("lays out chunk header, 288-byte matrix header and big-endian float32 data per the spec", () => {
    const audio = audioBlock(2048);
    const buf = encodeMatrixPacket(audio, 1234.5);
    expect(buf.length).toBe(8 + 288 + 2048 * 4);
    // byte-level spot checks of the byte order
    expect([...buf.subarray(0, 8)]).toEqual([0x4a, 0x4d, 0x54, 0x58, 0x20, 0x01, 0, 0]); // "JMTX", 288 LE
    expect([...buf.subarray(8, 16)]).toEqual([0x58, 0x54, 0x4d, 0x4a, 0, 0, 0x01, 0x20]); // "XTMJ", 288 BE
    const one = encodeMatrixPacket({ ...audioBlock(1), data: new Float32Array([1]) }, 0);
    expect([...one.subarray(296, 300)]).toEqual([0x3f, 0x80, 0, 0]); // 1.0f big-endian

    const a = parseChunk(buf)!;
    expect(a.bytes).toBe(buf.length);
    expectHeader(a.packet, 1, [2048], audio.data);
    expect(a.packet.time).toBe(1234.5);

    const image = imageBlock(16, 8);
    const i = parseChunk(encodeMatrixPacket(image, 99))!.packet;
    expectHeader(i, 4, [16, 8], rgbToArgb(image.data));
  });

  it("decodeMatrixPacket inverts the encoder and honours padded dimstrides", () => {
    const image = imageBlock(5, 3);
    const back = decodeMatrixPacket(encodeMatrixPacket(image, 7.25));
    // RGB goes out as ARGB with alpha 1
    expect(back).toMatchObject({ planecount: 4, type: 2, dim: [5, 3], dimstride: [16, 80], datasize: 240, time: 7.25, packetBytes: 8 + 288 + 240 });
    expect(Array.from(back.data)).toEqual(Array.from(rgbToArgb(image.data)));

    // Jitter pads rows (dimstride[1] > width * cell bytes): rebuild the packet with 16-byte rows padding
    const tight = encodeMatrixPacket(image, 0);
    const rowBytes = 80, padded = 96;
    const buf = Buffer.alloc(8 + 288 + padded * 3, 0xff);
    tight.copy(buf, 0, 0, 296);
    buf.writeInt32BE(padded, 8 + 148 + 4);
    buf.writeInt32BE(padded * 3, 8 + 276);
    for (let y = 0; y < 3; y++) tight.copy(buf, 296 + y * padded, 296 + y * rowBytes, 296 + (y + 1) * rowBytes);
    expect(Array.from(decodeMatrixPacket(buf).data)).toEqual(Array.from(rgbToArgb(image.data)));

    expect(() => encodeMatrixPacket({ ...image, width: 6 }, 0)).toThrow(/expected/);
    expect(() => decodeMatrixPacket(Buffer.from("JMLP0000"))).toThrow();
  });
});

describe("JitterChunkParser (the input side: tfbend as jit.net.recv)", () => {
  type Found = ["matrix", Buffer] | ["oversized", number] | ["protocol error", string];
  const parserInto = (found: Found[], maxMatrixBytes: number) =>
    new JitterChunkParser({
      matrix: (packet) => void found.push(["matrix", Buffer.from(packet)]),
      oversized: (datasize) => void found.push(["oversized", datasize]),
      protocolError: (message) => void found.push(["protocol error", message]),
    }, maxMatrixBytes);
  const message = (id: string, body: Buffer) => {
    const head = Buffer.alloc(8);
    head.write(id, 0, "latin1");
    head.writeInt32LE(body.length, 4);
    return Buffer.concat([head, body]);
  };
  const small = encodeMatrixPacket(audioBlock(16), 1);
  const big = encodeMatrixPacket(audioBlock(64), 2); // 256 data bytes: over the 128-byte limit below
  const stereo = encodeMatrixPacket({ ...audioBlock(8), channels: 2, data: new Float32Array(16).fill(0.5) }, 3);
  const stream = Buffer.concat([small, encodeLatencyPacket(1, 2, 3), message("JMMP", Buffer.from("a message")), big, stereo]);
  const expected: Found[] = [["matrix", small], ["oversized", 256], ["matrix", stereo]];
  /** Packets as hex: quick to compare a thousand times. */
  const hex = (found: Found[]) => found.map(([kind, value]) => [kind, Buffer.isBuffer(value) ? value.toString("hex") : value]);

  it("finds the same chunks however TCP cuts the stream: at every byte, and one byte at a time", () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const found: Found[] = [];
      const parser = parserInto(found, 128);
      parser.write(stream.subarray(0, cut));
      parser.write(stream.subarray(cut));
      expect(hex(found), `cut at byte ${cut}`).toEqual(hex(expected));
      expect(parser.state).toBe("chunk-header");
    }
    const found: Found[] = [];
    const parser = parserInto(found, 128);
    for (let i = 0; i < stream.length; i++) parser.write(stream.subarray(i, i + 1));
    expect(hex(found)).toEqual(hex(expected));
    expect(decodeMatrixPacket(found[2][1] as Buffer)).toMatchObject({ planecount: 2, dim: [8], time: 3 });
  });

  it("skips an oversized matrix without holding its data, and names each state on the way", () => {
    const found: Found[] = [];
    const parser = parserInto(found, 128);
    const states: string[] = [parser.state];
    for (const piece of [big.subarray(0, 8), big.subarray(8, 8 + 288), big.subarray(8 + 288, 8 + 288 + 100)]) {
      parser.write(piece);
      states.push(parser.state);
      expect(parser.bufferedBytes).toBe(0);
    }
    expect(states).toEqual(["chunk-header", "matrix-header", "skip", "skip"]);
    parser.write(Buffer.concat([big.subarray(8 + 288 + 100), small.subarray(0, 100)]));
    expect(parser.state).toBe("matrix-header");
    expect(parser.bufferedBytes).toBe(92);
    parser.write(small.subarray(100));
    expect(found).toEqual([["oversized", 256], ["matrix", small]]);
  });

  it("stops at bytes that are not the protocol, and reads nothing after them", () => {
    const cases: [Buffer, RegExp][] = [
      [Buffer.from("HTTP/1.1 200 OK\r\n"), /"HTTP" is not a Jitter chunk id/],
      [message("JMMP", Buffer.alloc(0)).fill(0xff, 4, 8), /JMMP chunk of -1 bytes/],
      [Buffer.from(small).fill(0, 4, 8), /matrix chunk size 0, expected 288/],
      [Buffer.from(small).fill(0x7f, 8 + 276, 8 + 280), /matrix data size \d+ is not plausible/],
    ];
    for (const [garbage, why] of cases) {
      const found: Found[] = [];
      const parser = parserInto(found, 1 << 20);
      parser.write(Buffer.concat([small, garbage, small]));
      parser.write(small);
      expect(found.map(([kind]) => kind)).toEqual(["matrix", "protocol error"]);
      expect(found[1][1]).toMatch(why);
      expect(parser.state).toBe("failed");
    }
  });
});

describe("JitterSender", () => {
  it.each<AckStyle>(["struct-be", "chunk-le"])("streams audio and image blocks to jit.net.recv and reads its JMLP replies (%s)", async (style) => {
    const recv = track(new FakeJitNetRecv());
    recv.ack = style;
    const port = await recv.listen();
    const sender = track(new JitterSender({ port, reconnectMs: 20 }));
    expect(sender.stats()).toEqual({ connected: false, sent: 0, dropped: 0, latencyMs: null, bufferedBytes: 0 });
    sender.start();
    await until(() => sender.stats().connected);

    const audio = audioBlock(2048, 1);
    const image = imageBlock(16, 8, 2);
    expect(sender.send(audio)).toBe(true);
    expect(sender.send(image)).toBe(true);
    await until(() => recv.all.length === 2 && sender.stats().latencyMs !== null);

    expectHeader(recv.all[0], 1, [2048], audio.data);
    expectHeader(recv.all[1], 4, [16, 8], rgbToArgb(image.data));
    expect(recv.all[1].time).toBeGreaterThan(recv.all[0].time);
    const { latencyMs, sent, dropped, connected } = sender.stats();
    expect({ sent, dropped, connected }).toEqual({ sent: 2, dropped: 0, connected: true });
    expect(latencyMs).toBeGreaterThanOrEqual(0);
    expect(latencyMs).toBeLessThan(1000);

    // garbage from the receiver is ignored; the stream goes on
    recv.sockets[0].write(Buffer.from("JMLPnot-a-latency-packet-at-all-xxxxxxxxxxxxxxxxxxxxx"));
    sender.send(audioBlock(256, 3));
    await until(() => recv.all.length === 3);
    expect(sender.stats().connected).toBe(true);
    expect(recv.errors).toEqual([]);
  });

  it("waits for a receiver that is not there yet, then connects", async () => {
    const port = await freePort();
    const sender = track(new JitterSender({ port, reconnectMs: 20, maxReconnectMs: 80 }));
    sender.start();
    sender.start(); // idempotent
    expect(sender.send(audioBlock(64))).toBe(false); // nobody listening: dropped, not queued
    await new Promise((r) => setTimeout(r, 150)); // a few refused attempts
    expect(sender.stats()).toMatchObject({ connected: false, sent: 0, dropped: 1 });
    expect(sender.lastError).not.toBeNull();

    const recv = track(new FakeJitNetRecv());
    await recv.listen(port);
    await until(() => sender.stats().connected);
    const block = audioBlock(512, 4);
    expect(sender.send(block)).toBe(true);
    await until(() => recv.all.length === 1);
    expectHeader(recv.all[0], 1, [512], block.data);
  });

  it("reconnects when the receiver hangs up mid-stream, and the new connection starts on a packet boundary", async () => {
    const recv = track(new FakeJitNetRecv());
    const port = await recv.listen();
    recv.onPacket = (_p, socket, connection) => {
      if (connection === 0 && recv.packets[0].length === 2) socket.destroy(); // hang up after two packets
    };
    const sender = track(new JitterSender({ port, reconnectMs: 20 }));
    sender.start();
    await until(() => sender.stats().connected);

    let seq = 0;
    const sentBlocks: OutputBlock[] = [];
    for (let i = 0; i < 2; i++) {
      const b = imageBlock(32, 16, seq++);
      sender.send(b);
      sentBlocks.push(b);
    }
    await until(() => recv.packets[0]?.length === 2 && !sender.stats().connected);
    await until(() => sender.stats().connected && recv.packets.length === 2);

    const after = [imageBlock(32, 16, seq++), audioBlock(300, seq++)];
    for (const b of after) expect(sender.send(b)).toBe(true);
    await until(() => recv.packets[1].length === 2);
    expectHeader(recv.packets[0][1], 4, [32, 16], rgbToArgb(sentBlocks[1].data));
    expectHeader(recv.packets[1][0], 4, [32, 16], rgbToArgb(after[0].data));
    expectHeader(recv.packets[1][1], 1, [300], after[1].data);
  });

  it("drops blocks instead of buffering without bound when the receiver stops reading", async () => {
    const recv = track(new FakeJitNetRecv());
    const port = await recv.listen();
    const budget = 1 << 20;
    const sender = track(new JitterSender({ port, reconnectMs: 20, maxBufferedBytes: budget }));
    sender.start();
    await until(() => recv.sockets.length === 1 && sender.stats().connected);
    recv.sockets[0].pause(); // the patch is stuck: nothing more is read

    const block = audioBlock(64 * 1024); // 256 KiB per packet
    const packetBytes = 296 + block.data.byteLength;
    let maxBuffered = 0;
    const attempts = 200; // 50 MiB offered, far more than the kernel buffers hold
    for (let i = 0; i < attempts; i++) {
      sender.send(block);
      maxBuffered = Math.max(maxBuffered, sender.stats().bufferedBytes);
      if (i % 10 === 0) await new Promise((r) => setImmediate(r));
    }
    const { sent, dropped } = sender.stats();
    expect(sent + dropped).toBe(attempts);
    expect(dropped).toBeGreaterThan(0);
    expect(maxBuffered).toBeLessThanOrEqual(budget + packetBytes);

    // once the patch reads again, every packet that was sent arrives whole
    recv.sockets[0].resume();
    await until(() => recv.all.length === sent, 4000);
    expect(recv.all.every((p) => p.chunkId === "JMTX" && p.datasize === block.data.byteLength)).toBe(true);
    expect(Array.from(recv.all[sent - 1].data.subarray(0, 16))).toEqual(Array.from(block.data.subarray(0, 16)));
  });

  it("close() stops reconnecting and later sends are dropped quietly", async () => {
    const port = await freePort();
    const sender = new JitterSender({ port, reconnectMs: 10 });
    sender.start();
    await new Promise((r) => setTimeout(r, 30));
    await sender.close();
    const recv = track(new FakeJitNetRecv());
    await recv.listen(port);
    await new Promise((r) => setTimeout(r, 60));
    expect(recv.sockets.length).toBe(0);
    expect(sender.send(audioBlock(8))).toBe(false);
    expect(sender.stats()).toMatchObject({ connected: false, sent: 0, dropped: 1 });
    expect(() => new JitterSender({ port: 70000 })).toThrow(/port/);
  });
});
