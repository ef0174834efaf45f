// The demo patches parse, use only objects of their environment, and every command they
// send is accepted by the command table (run in order on a fresh session: all ok).
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { makeModelsDir } from "./session-fixture.js";

const root = join(import.meta.dirname, "..");
/** Objects and box classes Max 8/9 ship, with the attributes the patches may set (patches/max-objects.json cites each reference page). */
interface MaxCatalogue {
  objects: Record<string, { reference: string; attributes: string[] }>;
  boxes: Record<string, { reference: string; attributes: string[] }>;
}
const MAX_SHIPS = JSON.parse(readFileSync(join(root, "patches/max-objects.json"), "utf8")) as MaxCatalogue;
/** Box fields Max writes for every box (not attributes of an object). */
const BOX_FIELDS = new Set(["id", "maxclass", "text", "patching_rect", "numinlets", "numoutlets"]);
// Pd vanilla objects these patches use (Pd 0.51+).
const PD_OBJECTS = new Set(["netsend", "netreceive", "oscformat", "oscparse", "list", "route", "print", "metro", "t", "adc~", "array", "tabwrite~", "f", "+"]);
/** The shipped audio model's methods (what the Max patch's method menu may offer). */
const SHIPPED_METHODS = new tb.zoo.AudioAutoencoder().methods.map((m) => m.name);

let dirs: { modelsDir: string; workspace: string };
beforeAll(async () => {
  dirs = await makeModelsDir();
  mkdirSync(dirs.workspace, { recursive: true });
});

async function runAll(commands: tb.control.Atom[][]): Promise<void> {
  const session = new tb.control.Session(dirs);
  for (const atoms of commands) {
    expect(tb.control.COMMANDS.has(String(atoms[0])), `unknown command in patch: ${atoms.join(" ")}`).toBe(true);
    const reply = await session.execute(atoms);
    expect(reply.ok, `${atoms.join(" ")} → ${reply.values.join(" ")}`).toBe(true);
  }
  session.dispose();
}

/** The plugin's Max entry with max-api stood in, on the shipped models as plugin/javascript/tfbend.mjs starts it (one for both Max patches). */
interface MaxEntry {
  session: tb.control.MaxSession;
  handlers: Map<string, (...args: unknown[]) => Promise<void>>;
  outlets: unknown[][];
}
let maxEntry: Promise<MaxEntry> | undefined;
function startMaxEntry(): Promise<MaxEntry> {
  maxEntry ??= (async () => {
    const outlets: unknown[][] = [];
    const handlers = new Map<string, (...args: unknown[]) => Promise<void>>();
    const maxApi: tb.control.MaxApiLike = {
      MESSAGE_TYPES: { ALL: "all" },
      addHandler: (selector, handler) => void handlers.set(selector, handler as unknown as (...args: unknown[]) => Promise<void>),
      outlet: async (...args) => void outlets.push(args),
      post: async () => undefined,
      setDict: async (_id, dict) => dict,
    };
    const session = await tb.transports.startMax(maxApi, { modelsDir: join(root, "models"), workspace: dirs.workspace, model: "audio" });
    return { session, handlers, outlets };
  })();
  return maxEntry;
}
afterAll(async () => {
  if (maxEntry) await (await maxEntry).session.close();
});

/**
 * Sends each message as Max sends a clicked message box to node.script (its first word is the
 * handler's selector); each must be answered `ok <command>`.
 */
async function clickInMax(messages: tb.control.Atom[][]): Promise<void> {
  const { handlers, outlets } = await startMaxEntry();
  for (const [selector, ...args] of messages) {
    const handler = handlers.get(String(selector));
    expect(handler, `node.script has no handler for '${selector}'`).toBeDefined();
    const from = outlets.length;
    await handler!(...args);
    const reply = outlets.slice(from).find((o) => (o[0] === "ok" || o[0] === "error") && o[1] === selector);
    expect(reply?.slice(0, 2), `${[selector, ...args].join(" ")} → ${reply?.join(" ")}`).toEqual(["ok", selector]);
  }
}

interface MaxBox {
  box: { id: string; maxclass: string; text?: string };
}

for (const file of ["patches/tfbend-demo.maxpat", "plugin/help/tfbend.maxhelp"]) {
  describe(file, () => {
    const patch = JSON.parse(readFileSync(join(root, file), "utf8")) as {
      patcher: { boxes: MaxBox[]; lines: { patchline: { source: [string, number]; destination: [string, number] } }[] };
    };
    const boxes = new Map(patch.patcher.boxes.map((b) => [b.box.id, b.box]));

    it("uses only objects and attributes Max 8/9 ship, wired between existing boxes", () => {
      for (const { box } of patch.patcher.boxes) {
        const boxClass = MAX_SHIPS.boxes[box.maxclass];
        expect(boxClass, `box class ${box.maxclass}`).toBeDefined();
        for (const field of Object.keys(box)) if (!BOX_FIELDS.has(field)) expect(boxClass.attributes, `${box.maxclass} attribute ${field}`).toContain(field);
        if (box.maxclass !== "newobj") continue;
        const [name, ...args] = box.text!.split(" ");
        const object = MAX_SHIPS.objects[name];
        expect(object, `object ${name}`).toBeDefined();
        for (const attribute of args.filter((a) => a.startsWith("@"))) expect(object.attributes, `${box.text}`).toContain(attribute.slice(1));
      }
      for (const entry of [...Object.values(MAX_SHIPS.objects), ...Object.values(MAX_SHIPS.boxes)]) {
        expect(entry.reference).toMatch(/^https:\/\/docs\.cycling74\.com\/max8\//);
      }
      for (const { patchline } of patch.patcher.lines) {
        expect(boxes.has(patchline.source[0])).toBe(true);
        expect(boxes.has(patchline.destination[0])).toBe(true);
      }
      const node = [...boxes.values()].find((b) => b.text?.startsWith("node.script"))!;
      expect(node.text).toMatch(/node\.script tfbend\.mjs @autostart 1/);
    });

    it("every message box, clicked in the patch's order, is answered ok by node.script's entry on the shipped model", async () => {
      const node = [...boxes.values()].find((b) => b.text?.startsWith("node.script"))!;
      const sources = patch.patcher.lines.filter((l) => l.patchline.destination[0] === node.id).map((l) => boxes.get(l.patchline.source[0])!);
      const messageBoxes = patch.patcher.boxes.map((b) => b.box).filter((b) => b.maxclass === "message");
      // every message box goes to node.script, and its first word is a command of the table
      for (const box of messageBoxes) {
        expect(sources, box.text).toContain(box);
        expect([...tb.control.COMMANDS.keys()], box.text).toContain(box.text!.split(" ")[0]);
      }
      expect(messageBoxes.length).toBeGreaterThan(20);
      // The image section (from 'load image' on, in box order) is clicked last, its sliders after its bends.
      const boxOrder = patch.patcher.boxes.map((b) => b.box);
      const imageFrom = boxOrder.findIndex((b) => b.maxclass === "message" && b.text === "load image");
      expect(imageFrom).toBeGreaterThan(0);
      const inImage = (b: MaxBox["box"]) => boxOrder.indexOf(b) >= imageFrom;
      const messages = messageBoxes.filter((b) => !inImage(b)).map((b) => tb.control.parseLine(b.text!));
      // slider chains end in [prepend set <control>]: clicked once the bends made the controls
      const sliderSet = (b: MaxBox["box"]) => [...tb.control.parseLine(b.text!.slice(8)), 0.5];
      const sliders = sources.filter((b) => b.text?.startsWith("prepend set") && !inImage(b)).map(sliderSet);
      const imageSliders = sources.filter((b) => b.text?.startsWith("prepend set") && inImage(b)).map(sliderSet);
      expect(imageSliders.map((s) => s[1])).toEqual(["angle", "zoom"]);
      const afterBends = messages.findIndex((m) => m[0] === "controls") + 1;
      expect(afterBends).toBeGreaterThan(0);
      // the method menu's items through [prepend method]
      const menu = patch.patcher.boxes.find((b) => b.box.maxclass === "umenu")!.box as { items?: string[] };
      const methods = (menu.items ?? []).filter((i) => i !== ",").map((name) => ["method", name]);
      const image = messageBoxes.filter(inImage).map((b) => tb.control.parseLine(b.text!));
      expect(image[0]).toEqual(["load", "image"]);
      const clicks = [...messages.slice(0, afterBends), ...sliders, ...messages.slice(afterBends), ...methods, ...image, ...imageSliders];
      await clickInMax(clicks);
    });

    it("sends the patch's audio: adc~ → jit.catch~ → jit.net.send @port 7476, with a method menu", () => {
      const from = (id: string) => patch.patcher.lines.filter((l) => l.patchline.source[0] === id).map((l) => boxes.get(l.patchline.destination[0])!);
      const adc = [...boxes.values()].find((b) => b.text?.startsWith("adc~"))!;
      const katch = from(adc.id).find((b) => b.text?.startsWith("jit.catch~"))!;
      expect(katch).toBeDefined();
      expect(from(katch.id).map((b) => b.text)).toContainEqual(expect.stringMatching(/^jit\.net\.send .*@port 7476/));
      const menu = patch.patcher.boxes.find((b) => b.box.maxclass === "umenu")!.box as { id: string; items?: string[] };
      const items = (menu.items ?? []).filter((i) => i !== ",");
      expect(items.length).toBeGreaterThan(1);
      for (const item of items) expect(SHIPPED_METHODS).toContain(item);
      const prepend = from(menu.id)[0];
      expect(prepend.text).toBe("prepend method");
      expect(from(prepend.id).map((b) => b.text)).toContainEqual(expect.stringMatching(/^node\.script/));
    });
  });
}

describe("patches/tfbend.pd", () => {
  const lines = readFileSync(join(root, "patches/tfbend.pd"), "utf8").split(";\n").map((l) => l.trim()).filter(Boolean);

  it("parses and uses only Pd vanilla objects, with valid connections", () => {
    expect(lines[0]).toMatch(/^#N canvas/);
    const objects = lines.slice(1).filter((l) => !l.startsWith("#X connect"));
    for (const l of objects) {
      expect(l).toMatch(/^#X (obj|msg|text) \d+ \d+/);
      if (l.startsWith("#X obj")) expect(PD_OBJECTS.has(l.split(" ")[4]), l).toBe(true);
    }
    for (const l of lines.filter((x) => x.startsWith("#X connect"))) {
      const [, , a, , b] = l.split(" ").map(Number);
      expect(a).toBeLessThan(objects.length);
      expect(b).toBeLessThan(objects.length);
    }
  });

  it("sends only commands the table accepts", async () => {
    const objects = lines.slice(1).filter((l) => !l.startsWith("#X connect"));
    const commands: tb.control.Atom[][] = [];
    objects.forEach((l, i) => {
      const m = /^#X obj \d+ \d+ oscformat tfbend (\S+)$/.exec(l);
      if (!m || m[1] === "audio_in") return; // the live input, checked below
      const msg = objects[i - 1].replace(/^#X msg \d+ \d+ ?/, "");
      const atoms = msg === "bang" ? [] : tb.control.parseLine(msg);
      // [oscformat] takes lists: a first atom that is a word would be a method it does not have
      if (typeof atoms[0] === "string") expect(atoms[0], msg).toBe("list");
      commands.push([m[1], ...(atoms[0] === "list" ? atoms.slice(1) : atoms)]);
    });
    expect(commands.length).toBeGreaterThan(20);
    // the fixture model is a bare decoder: the method boxes name the shipped model's methods
    // (test/pd-host.test.ts runs them all in Pd on the shipped model)
    const methods = commands.filter((c) => c[0] === "method");
    expect(methods.length).toBeGreaterThan(0);
    for (const [, name] of methods) expect(SHIPPED_METHODS).toContain(name);
    await runAll(commands.filter((c) => c[0] !== "reset" && c[0] !== "unbend" && c[0] !== "method"));
  });

  it("sends its input as /tfbend/audio_in <seq> <rate> <samples...> chunks from adc~", () => {
    const objects = lines.slice(1).filter((l) => !l.startsWith("#X connect"));
    const index = (re: RegExp) => objects.findIndex((l) => re.test(l));
    const connected = (a: number, b: number) => lines.some((l) => new RegExp(`^#X connect ${a} \\d+ ${b} \\d+$`).test(l));
    const adc = index(/^#X obj \d+ \d+ adc~/);
    const record = index(/ tabwrite~ tfbend-in$/);
    const format = index(/ oscformat tfbend audio_in$/);
    const send = index(/ netsend -u -b$/);
    expect(Math.min(adc, record, format, send)).toBeGreaterThanOrEqual(0);
    expect(connected(adc, record)).toBe(true);
    expect(connected(format, send)).toBe(true);
    expect(objects[index(/ array define tfbend-in/)]).toMatch(/array define tfbend-in 512$/);
    expect(objects[index(/ list prepend 44100$/)]).toBeDefined();
  });
});

describe("patches/tfbend.scd and touchdesigner.md", () => {
  it("send only commands the table accepts", async () => {
    const scd = readFileSync(join(root, "patches/tfbend.scd"), "utf8");
    const calls = [...scd.matchAll(/^~tfbend\.sendMsg\('\/tfbend\/(\w+)'((?:, [^,)]+)*)\);/gm)].map((m) => [
      m[1], ...tb.control.parseLine(m[2].replace(/,/g, " ")),
    ]);
    expect(calls.length).toBeGreaterThan(10);
    await runAll(calls.filter((c) => c[0] !== "reset"));
    const td = readFileSync(join(root, "patches/touchdesigner.md"), "utf8");
    for (const [, command] of td.matchAll(/\/tfbend\/(\w+)/g)) {
      if (["ok", "error", "event"].includes(command)) continue;
      expect(tb.control.COMMANDS.has(command), command).toBe(true);
    }
  });
});

describe("the patches start from the first sound", () => {
  it("load, then stream start with the latent walking; walk and hold are a click away", () => {
    const max = JSON.parse(readFileSync(join(root, "patches/tfbend-demo.maxpat"), "utf8")) as { patcher: { boxes: MaxBox[] } };
    const messages = max.patcher.boxes.filter((b) => b.box.maxclass === "message").map((b) => b.box.text);
    expect(messages.slice(0, 2)).toEqual(["load audio", "stream start"]);
    expect(messages).toEqual(expect.arrayContaining(["input walk 0.25", "input hold"]));
    // Pd: a message box of atoms, then [oscformat tfbend <command>]
    const pd = [...readFileSync(join(root, "patches/tfbend.pd"), "utf8").matchAll(/#X msg \d+ \d+ (?:list )?(.*);\n#X obj \d+ \d+ oscformat tfbend (\w+);/g)].map((m) => `${m[2]} ${m[1]}`);
    expect(pd.slice(0, 3)).toEqual(["load audio", "stream start", "input walk 1"]);
    expect(pd).toEqual(expect.arrayContaining(["input walk 0.25", "input hold"]));
    const scd = readFileSync(join(root, "patches/tfbend.scd"), "utf8");
    const calls = [...scd.matchAll(/^~tfbend\.sendMsg\('\/tfbend\/(\w+)'(.*)\);/gm)].map((m) => `${m[1]}${m[2]}`);
    expect(calls.slice(0, 3)).toEqual(['load, "audio"', 'stream, "start"', 'input, "walk", 1']);
  });
});
