// The Pd patch in Pd vanilla itself (`pd -nogui`, headless), against the plugin on
// 127.0.0.1: every message box is clicked, its [oscformat] sends the command, and the
// reply comes back through the patch's own [netreceive] → [oscparse] → [print tfbend].
// A copy of the patch differs only in its two port numbers (free ones) and a harness
// appended after its last object: [netreceive -u] → [route <box>...] → each message box,
// so the test clicks box N by sending "N;" (a bang into a message box is a click).
import { createSocket, type Socket } from "node:dgram";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freeUdpPort, HostProcess, installed, repoRoot, startHostPlugin, type HostPlugin } from "./patch-hosts.js";

const hasPd = installed("pd", "-version");
/** What Pd prints when a patch is wrong: an object it cannot create, a message an object has no method for. */
const PD_COMPLAINT = /couldn't create|no method for|^error: /;

interface PdBox {
  index: number;
  text: string;
}

/** The patch's objects (index = Pd's object number) and its connections. */
function readPatch(text: string): { objects: string[]; connects: string[] } {
  const lines = text.split(";\n").map((l) => l.trim()).filter(Boolean);
  return { objects: lines.slice(1).filter((l) => !l.startsWith("#X connect")), connects: lines.filter((l) => l.startsWith("#X connect")) };
}

describe.skipIf(!hasPd)("patches/tfbend.pd in Pd vanilla (pd -nogui)", () => {
  const original = readFileSync(join(repoRoot, "patches/tfbend.pd"), "utf8");
  const { objects } = readPatch(original);
  const messageBoxes: PdBox[] = objects.flatMap((l, index) => (l.startsWith("#X msg ") ? [{ index, text: l.replace(/^#X msg \d+ \d+ ?/, "") }] : []));
  /** The command a box sends: the [oscformat tfbend <command>] right after it, if any. */
  const commandOf = (box: PdBox) => /^#X obj \d+ \d+ oscformat tfbend (\S+)$/.exec(objects[box.index + 1] ?? "")?.[1];

  let plugin: HostPlugin;
  let pd: HostProcess;
  let control: Socket;
  let controlPort: number;

  beforeAll(async () => {
    const replyPort = await freeUdpPort();
    controlPort = await freeUdpPort();
    plugin = await startHostPlugin({ host: "127.0.0.1", port: replyPort });
    let patch = original;
    for (const [from, to] of [[/ connect 127\.0\.0\.1 \d+;/g, ` connect 127.0.0.1 ${plugin.osc.port};`], [/ netreceive -u -b \d+;/g, ` netreceive -u -b ${replyPort};`]] as const) {
      expect(patch.match(from)?.length, `the patch has one '${from.source}'`).toBe(1);
      patch = patch.replace(from, to);
    }
    const n = objects.length;
    const harness = [
      `#X obj 700 10 netreceive -u ${controlPort};`,
      `#X obj 700 40 route ${messageBoxes.map((b) => b.index).join(" ")};`,
      "#X obj 700 70 loadbang;",
      "#X obj 700 100 print harness;",
      `#X connect ${n} 0 ${n + 1} 0;`,
      ...messageBoxes.map((b, outlet) => `#X connect ${n + 1} ${outlet} ${b.index} 0;`),
      `#X connect ${n + 2} 0 ${n + 3} 0;`,
    ];
    const dir = plugin.workspace;
    writeFileSync(join(dir, "tfbend-under-test.pd"), patch + harness.join("\n") + "\n");
    control = createSocket("udp4");
    pd = new HostProcess("pd", ["-nogui", "-noaudio", "-nomidi", "-noprefs", "-stderr", "-path", dir, "-open", join(dir, "tfbend-under-test.pd")]);
    expect(await pd.lineFrom(0, /^harness: bang$/), pd.lines.join("\n")).not.toBeNull();
  });

  afterAll(async () => {
    control?.close();
    await pd?.stop();
    await plugin?.close();
  });

  /** Clicks a box; with a command, waits for Pd to print its reply and returns it. */
  async function click(box: PdBox): Promise<string | undefined> {
    const from = pd.lines.length;
    control.send(`${box.index};\n`, controlPort, "127.0.0.1");
    const command = commandOf(box);
    if (!command) return undefined;
    // the reply, or Pd's own complaint (a box [oscformat] has no method for sends nothing)
    const reply = await pd.lineFrom(from, new RegExp(`^tfbend: (ok|error) ${command.replace(/\./g, "\\.")}( |$)|${PD_COMPLAINT.source}`));
    expect(reply?.line, `no reply to '${box.text}' (${command}); Pd said:\n${pd.lines.slice(from).join("\n")}`).toMatch(/^tfbend: /);
    return reply!.line;
  }

  it("every message box sends a command the plugin answers with ok, in the order the patch shows them", async () => {
    const boxes = new Map(messageBoxes.map((b) => [b.text, b]));
    const connect = messageBoxes.find((b) => b.text.startsWith("connect "))!;
    const liveOn = boxes.get("1")!;
    const liveOff = boxes.get("0")!;
    const methodBoxes = messageBoxes.filter((b) => commandOf(b) === "method");
    const forward = methodBoxes.find((b) => b.text === "list forward")!;
    const decode = methodBoxes.find((b) => b.text === "list decode")!;
    const commandBoxes = messageBoxes.filter((b) => commandOf(b) && commandOf(b) !== "method");
    const streamStart = commandBoxes.find((b) => commandOf(b) === "stream" && b.text === "list start")!;
    const streamStop = commandBoxes.find((b) => commandOf(b) === "stream" && b.text === "list stop")!;
    // every box is exercised below: the connect box, the command boxes, the live input's
    expect(new Set([connect, ...commandBoxes, forward, decode, liveOn, liveOff]).size).toBe(messageBoxes.length);

    await click(connect);
    const replies: string[] = [];
    for (const box of commandBoxes) replies.push((await click(box))!);
    const refused = replies.filter((r) => r.startsWith("tfbend: error"));
    expect(refused, refused.join("\n")).toEqual([]);
    expect(replies.length).toBeGreaterThan(25);

    // live input: method forward, stream start, then [1] sends the (silent) adc~ chunks as
    // /tfbend/audio_in <seq> 44100 <512 samples>; forward runs only on input, so blocks prove it arrives
    expect(await click(forward)).toMatch(/^tfbend: ok method forward/);
    expect(await click(streamStart)).toMatch(/^tfbend: ok stream/);
    const blocks = new Promise<void>((resolve) => {
      let seen = 0;
      const stop = plugin.engine.onBlock(() => {
        if (++seen < 3) return;
        stop();
        resolve();
      });
    });
    const beforeInput = pd.lines.length;
    await click(liveOn);
    await blocks;
    await click(liveOff);
    const status = await plugin.engine.execute(["status"]);
    const field = (name: string) => status.values[status.values.indexOf(name) + 1];
    expect(field("method")).toBe("forward");
    expect(field("input_refused")).toBe(0);
    expect(field("input_nonfinite")).toBe(0);
    expect(await click(streamStop)).toMatch(/^tfbend: ok stream/);
    expect(pd.lines.slice(beforeInput).filter((l) => l.startsWith("tfbend: error")), "audio_in refused").toEqual([]);
    expect(await click(decode)).toMatch(/^tfbend: ok method decode/);
    // Pd itself found nothing wrong with the patch (no "... couldn't create", no "no method for")
    expect(pd.lines.filter((l) => PD_COMPLAINT.test(l))).toEqual([]);
  });
});
