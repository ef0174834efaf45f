// Writes the demo patches from one description, so every message box is a command the
// table accepts (test/patches.test.ts checks that): Max demo + help patch, Pd patch.
// Run: node patches/build.mjs
import { writeFileSync } from "node:fs";

/** Messages every patch offers, in an order that works from a fresh start. */
export const DEMO_MESSAGES = [
  "load audio",
  // the first sound: the latent walks through the model's latent space by default
  "stream start",
  "input walk 1",
  "input walk 0.25",
  "input hold",
  "stream stop",
  "models",
  "trace",
  "weights",
  "activations",
  "graph",
  "bend net_2_conv mask prob @keep=0.5 dim -2",
  "bend net.6.conv.weight scale scale @gain=1",
  "controls",
  "set keep 0.3",
  "get keep",
  "write crushed",
  "version default",
  "versions",
  "interpolate default 1 crushed 1",
  "config save preset1",
  "config load preset1",
  "input 0 1 0 0 0 0 0 0",
  "render demo.wav 2",
  "input walk 0.25",
  "unbend net_2_conv",
  "reset",
  "stream start",
  "stream stop",
  "status",
  "dump",
];

// --- Max ---------------------------------------------------------------------------
function maxPatch(title, extra) {
  const boxes = [];
  const lines = [];
  let n = 0;
  const box = (maxclass, text, rect, more = {}) => {
    const id = `obj-${++n}`;
    boxes.push({ box: { id, maxclass, text, patching_rect: rect, numinlets: more.numinlets ?? 1, numoutlets: more.numoutlets ?? 1, ...more.attrs } });
    return id;
  };
  const wire = (from, outlet, to, inlet = 0) => lines.push({ patchline: { source: [from, outlet], destination: [to, inlet] } });

  box("comment", title, [20, 10, 600, 20], { numinlets: 1, numoutlets: 0 });
  const node = box("newobj", "node.script tfbend.mjs @autostart 1 @watch 0", [20, 560, 300, 22], { numinlets: 1, numoutlets: 2 });
  DEMO_MESSAGES.forEach((text, i) => {
    const col = i % 3;
    const row = Math.floor(i / 3);
    const id = box("message", text, [20 + col * 230, 40 + row * 28, 220, 22], { numinlets: 2, numoutlets: 1 });
    wire(id, 0, node);
  });
  // live controls: sliders 0..127 → 0..1 → set <control> <value>
  [["keep", 330], ["gain", 360]].forEach(([name, y]) => {
    const slider = box("slider", "", [720, y - 20, 140, 18], { numinlets: 1, numoutlets: 1, attrs: { orientation: 1 } });
    const scale = box("newobj", name === "gain" ? "scale 0 127 0. 2." : "scale 0 127 0. 1.", [720, y + 4, 120, 22], { numinlets: 6, numoutlets: 1 });
    const prepend = box("newobj", `prepend set ${name}`, [720, y + 30, 120, 22], { numinlets: 1, numoutlets: 1 });
    wire(slider, 0, scale);
    wire(scale, 0, prepend);
    wire(prepend, 0, node);
  });
  const route = box("newobj", "route ok error dict", [20, 600, 200, 22], { numinlets: 1, numoutlets: 4 });
  const okPrint = box("newobj", "print tfbend", [20, 640, 90, 22], { numinlets: 1, numoutlets: 0 });
  const errPrint = box("newobj", "print tfbend-error", [120, 640, 120, 22], { numinlets: 1, numoutlets: 0 });
  const dictPrint = box("newobj", "print tfbend-dict", [250, 640, 120, 22], { numinlets: 1, numoutlets: 0 });
  wire(node, 0, route);
  wire(route, 0, okPrint);
  wire(route, 1, errPrint);
  wire(route, 2, dictPrint);
  // audio: Jitter matrices over TCP → signal
  const audioIn = box("newobj", "jit.net.recv @port 7474", [450, 600, 160, 22], { numinlets: 1, numoutlets: 2 });
  const release = box("newobj", "jit.release~ @latency 2048", [450, 640, 170, 22], { numinlets: 1, numoutlets: 2 });
  const gain = box("newobj", "*~ 0.5", [450, 680, 60, 22], { numinlets: 2, numoutlets: 1 });
  const dac = box("newobj", "dac~", [450, 720, 40, 22], { numinlets: 2, numoutlets: 0 });
  wire(audioIn, 0, release);
  wire(release, 0, gain);
  wire(gain, 0, dac, 0);
  wire(gain, 0, dac, 1);
  if (extra) extra({ box, wire, node });
  // images: the image model's frames
  const imageIn = box("newobj", "jit.net.recv @port 7475", [650, 600, 160, 22], { numinlets: 1, numoutlets: 2 });
  const view = box("jit.pwindow", "", [650, 640, 128, 128], { numinlets: 1, numoutlets: 2 });
  const imageLoad = box("message", "load image", [820, 600, 80, 22], { numinlets: 2, numoutlets: 1 });
  wire(imageIn, 0, view);
  wire(imageLoad, 0, node);
  return {
    patcher: {
      fileversion: 1,
      appversion: { major: 8, minor: 6, revision: 0, architecture: "x64", modernui: 1 },
      classnamespace: "box",
      rect: [100, 100, 940, 800],
      openinpresentation: 0,
      default_fontsize: 12,
      boxes,
      lines,
    },
  };
}

writeFileSync(new URL("tfbend-demo.maxpat", import.meta.url), JSON.stringify(maxPatch("tfbend demo: bend the shipped audio model live (node.script runs the plugin; audio comes back through jit.net.recv)"), null, 2));
writeFileSync(new URL("../plugin/help/tfbend.maxhelp", import.meta.url), JSON.stringify(maxPatch("tfbend: every command of the plugin (click a message; replies print in the Max console)"), null, 2));

// --- Pd ------------------------------------------------------------------------------
// Pd 0.51+: [oscformat] / [oscparse] with [netsend -u -b] / [netreceive -u -b].
function pdPatch() {
  const objs = [];
  const conns = [];
  const add = (line) => objs.push(line) - 1;
  const connect = (a, o, b, i) => conns.push(`#X connect ${a} ${o} ${b} ${i};`);
  add("#X text 20 10 tfbend over OSC: each message is /tfbend/<command> <atoms>. Start the plugin with: npm start -- --osc-reply 127.0.0.1:7402 so replies arrive here.;");
  const send = add("#X obj 20 520 netsend -u -b;");
  const connectMsg = add("#X msg 200 480 connect 127.0.0.1 7400;");
  connect(connectMsg, 0, send, 0);
  DEMO_MESSAGES.forEach((text, i) => {
    const [command, ...args] = text.split(" ");
    const x = 20 + (i % 3) * 230;
    const y = 40 + Math.floor(i / 3) * 50;
    const msg = add(`#X msg ${x} ${y} ${args.join(" ").replace(/;/g, "\\;") || "bang"};`);
    const fmt = add(`#X obj ${x} ${y + 22} oscformat tfbend ${command};`);
    connect(msg, 0, fmt, 0);
    connect(fmt, 0, send, 0);
  });
  const recv = add("#X obj 20 600 netreceive -u -b 7402;");
  const parse = add("#X obj 20 630 oscparse;");
  const strip = add("#X obj 20 660 list trim;");
  const route = add("#X obj 20 690 route tfbend;");
  const print = add("#X obj 20 720 print tfbend;");
  connect(recv, 0, parse, 0);
  connect(parse, 0, strip, 0);
  connect(strip, 0, route, 0);
  connect(route, 0, print, 0);
  return ["#N canvas 100 100 760 780 12;", ...objs, ...conns].join("\n") + "\n";
}
writeFileSync(new URL("tfbend.pd", import.meta.url), pdPatch());
