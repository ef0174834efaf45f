// One protocol for the server and the panel (src/protocol, which panel/ bundles): every
// stream kind the server encodes decodes to the same kind in the panel's code path, over
// a real WebSocket too; the command table takes each name once, only names the protocol
// declares, and every declared command is there.
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import * as tb from "tfbend";
import { decodeBlock } from "../panel/src/client.ts";

const { control } = tb;
const MODELS = join(import.meta.dirname, "../models");

function frameOf(stream: tb.control.FrameStream, channels: number, frames: number): tb.control.Frame {
  const data = Float32Array.from({ length: channels * frames }, (_, i) => Math.sin(i) * (i % 7));
  return { stream, seq: 41, sampleRate: stream === "image" ? 0 : 44100, frames, channels, width: stream === "image" ? 4 : 0, height: stream === "image" ? 2 : 0, data };
}

describe("frames", () => {
  const kinds: [tb.control.OutputStream, number, number][] = [["audio", 1, 2048], ["latent", 8, 8], ["image", 3, 1]];
  for (const [stream, channels, frames] of kinds) {
    it(`a ${stream} block encoded by the server decodes as ${stream} in the panel, values intact`, () => {
      const block = frameOf(stream, channels, stream === "image" ? 8 : frames);
      const bytes = control.encodeFrame(block);
      // The panel gets an ArrayBuffer of exactly the frame (WebSocket binaryType "arraybuffer").
      const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
      const decoded = decodeBlock(buffer);
      expect(decoded).not.toBeNull();
      expect({ ...decoded!, data: Array.from(decoded!.data) }).toEqual({ ...block, data: Array.from(block.data) });
    });
  }

  it("the panel ignores input frames and anything that is not a frame", () => {
    const input = control.encodeFrame(frameOf("input", 1, 16));
    expect(decodeBlock(input.slice().buffer)).toBeNull();
    expect(decodeBlock(new Uint8Array(8).buffer)).toBeNull();
    const unknown = control.encodeFrame(frameOf("audio", 1, 4));
    unknown[4] = 9;
    expect(decodeBlock(unknown.slice().buffer)).toBeNull();
    expect(() => control.decodeFrame(unknown)).toThrow(/unknown stream id 9/);
    expect(() => control.decodeFrame(Buffer.concat([Buffer.from(control.encodeFrame(frameOf("audio", 1, 4))), Buffer.from([1])]))).toThrow(/not a whole number/);
  });

  it("decodes from a Node buffer at any offset (a frame inside a larger pooled buffer)", () => {
    const block = frameOf("latent", 3, 5);
    const pooled = Buffer.alloc(100 + control.FRAME_HEADER_BYTES + 60);
    Buffer.from(control.encodeFrame(block)).copy(pooled, 3);
    const decoded = control.decodeFrame(pooled.subarray(3, 3 + control.FRAME_HEADER_BYTES + 60));
    expect(Array.from(decoded.data)).toEqual(Array.from(block.data));
    expect(decoded.stream).toBe("latent");
  });

  it("the panel keeps no frame format of its own (it bundles src/protocol)", () => {
    const dir = join(import.meta.dirname, "../panel/src");
    for (const file of readdirSync(dir)) {
      const text = readFileSync(join(dir, file), "utf8");
      expect(text, file).not.toMatch(/TFB1|0x54, 0x46, 0x42, 0x31|getUint8\(4\)/);
    }
  });
});

describe("frames over the WebSocket, decoded by the panel's code", () => {
  let engine: tb.control.Engine;
  let server: tb.control.WsServer;
  let socket: WebSocket;
  const blocks: tb.control.OutputBlock[] = [];
  const waiters: (() => void)[] = [];
  let nextId = 1;
  const replies = new Map<number, (reply: tb.control.ReplyMessage) => void>();

  /** Resolves when a decoded block satisfies `test` (checked on every frame that arrives). */
  const block = (test: (b: tb.control.OutputBlock) => boolean) =>
    new Promise<tb.control.OutputBlock>((resolve) => {
      const check = () => {
        const found = blocks.find(test);
        if (!found) return false;
        resolve(found);
        return true;
      };
      if (!check()) waiters.push(() => void check());
    });
  const command = (cmd: string, ...args: tb.control.Atom[]) =>
    new Promise<tb.control.ReplyMessage>((resolve) => {
      const id = nextId++;
      replies.set(id, resolve);
      socket.send(JSON.stringify({ cmd, args, id }));
    });
  /** Stops the stream; frames sent before the reply have arrived when it does. */
  const stop = async () => {
    expect((await command("stream", "stop")).ok).toBe(true);
    blocks.length = 0;
  };

  beforeAll(async () => {
    engine = await control.Engine.start({ workspace: mkdtempSync(join(tmpdir(), "tfbend-protocol-")), modelsDir: MODELS, model: "audio" });
    server = new tb.transports.WsServer(engine, { host: "127.0.0.1", port: 0 });
    await server.ready;
    socket = new WebSocket(`ws://127.0.0.1:${server.port}`);
    socket.binaryType = "arraybuffer";
    socket.on("message", (data: ArrayBuffer | Buffer, isBinary: boolean) => {
      if (isBinary) {
        const decoded = decodeBlock(data as ArrayBuffer);
        if (decoded) blocks.push(decoded);
        for (const w of waiters.splice(0)) w();
        return;
      }
      const message = JSON.parse(String(data)) as tb.control.ReplyMessage | tb.control.EventMessage;
      if (message.type === "reply" && typeof message.id === "number") replies.get(message.id)?.(message);
    });
    await new Promise((resolve) => socket.once("open", resolve));
  });

  afterAll(async () => {
    socket.close();
    await server.close();
    await engine.close();
  });

  it("audio from decode, latents from encode, an image from the image model", async () => {
    expect((await command("method", "decode")).ok).toBe(true);
    expect((await command("stream", "start")).ok).toBe(true);
    expect(await block(() => true)).toMatchObject({ stream: "audio", channels: 1, sampleRate: 44100 });
    await stop();

    expect((await command("method", "encode")).ok).toBe(true);
    expect((await command("stream", "start")).ok).toBe(true);
    const pushed = await engine.pushAudio({ source: "test", sampleRate: 44100, channels: 1, data: new Float32Array(2048).fill(0.1), arrival: control.wallClockMs() });
    expect(pushed.ok, String(pushed.values[0])).toBe(true);
    // The header holds whole Hz: the latent rate 44100 / 256 goes out as 172.
    expect(await block(() => true)).toMatchObject({ stream: "latent", channels: 8, frames: 8, sampleRate: 172 });
    await stop();

    expect((await command("load", "image")).ok).toBe(true);
    expect((await command("stream", "start")).ok).toBe(true);
    const image = await block(() => true);
    expect(image.stream).toBe("image");
    expect(image.data.length).toBe(image.width * image.height * 3);
    await stop();
  });
});

describe("the command table", () => {
  it("holds every command the protocol declares, each once, and nothing else", () => {
    const table = control.sessionCommands();
    expect([...table.keys()].sort()).toEqual(Object.keys(control.COMMAND_EFFECTS).sort());
    for (const name of table.keys()) expect(table.effect(name), name).toBe(control.commandEffect(name));
  });

  it("refuses a name twice, and a name the protocol does not declare", () => {
    const table = new control.CommandTable().register(...control.CORE_COMMANDS);
    const size = table.size;
    const help = control.CORE_COMMANDS.find((c) => c.name === "help")!;
    expect(() => table.register(help)).toThrow(/'help' is registered twice/);
    expect(() => new control.CommandTable().register(help, help)).toThrow(/registered twice/);
    expect(() => table.register({ ...help, name: "frobnicate" as tb.control.CommandName })).toThrow(/not declared/);
    expect(table.size).toBe(size);
    control.registerPanelCommands(table);
    expect(() => control.registerPanelCommands(table)).toThrow(/registered twice/);
  });

  it("effects: queries change nothing, output changes are announced, announcements are not queries", () => {
    for (const [name, effect] of Object.entries(control.COMMAND_EFFECTS)) {
      expect(control.isQuery(name), name).toBe(effect === "query");
      expect(control.announces(name), name).toBe(effect === "announce" || effect === "output");
      expect(control.changesOutput(name), name).toBe(effect === "output");
    }
    expect(control.commandEffect("nope")).toBeUndefined();
    expect(control.announces("toString")).toBe(false); // not an inherited property
  });
});
