// Writes the demo patches from one description, so every message box is a command the
// table accepts (test/patches.test.ts checks that): Max demo + help patch, Pd patch.
// Run: node patches/build.mjs
import { writeFileSync } from "node:fs";

/** The shipped audio model's methods (nn~): the Max patch's method menu. */
export const METHODS = ["decode", "forward", "encode"];
/** Samples per live-input chunk the Pd patch sends (11.6 ms at 44.1 kHz). */
export const INPUT_CHUNK = 512;

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

/**
 * The Max patch's image section, clicked after 'load image': two spatial bendings on
 * controls the sliders below move, and modulators that move them by themselves.
 */
export const IMAGE_MESSAGES = [
  "load image",
  "bend net_6 rotate degrees @angle=0",
  "bend net_4 zoom factor @zoom=1",
  "lfo angle sine 0.25 45",
  "env zoom 0.05 0.1 0.6 2",
  "trigger zoom",
];
/** Sliders on the image section's controls: name, low, high. */
export const IMAGE_SLIDERS = [["angle", -180, 180], ["zoom", 0.5, 2]];

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
  // @latency is milliseconds of buffered signal (Max's reference): about two 2048-sample blocks
  const release = box("newobj", "jit.release~ @latency 100", [450, 640, 170, 22], { numinlets: 1, numoutlets: 2 });
  const gain = box("newobj", "*~ 0.5", [450, 680, 60, 22], { numinlets: 2, numoutlets: 1 });
  const dac = box("newobj", "dac~", [450, 720, 40, 22], { numinlets: 2, numoutlets: 0 });
  wire(audioIn, 0, release);
  wire(release, 0, gain);
  wire(gain, 0, dac, 0);
  wire(gain, 0, dac, 1);
  // live input: the patch's sound through the model (method forward or encode), back on 7474
  box("comment", "live input: choose a method that takes audio (forward, encode), then stream start", [720, 400, 210, 50], { numinlets: 1, numoutlets: 0 });
  const menu = box("umenu", "", [720, 456, 100, 22], { numinlets: 1, numoutlets: 3, attrs: { items: METHODS.flatMap((m, i) => (i ? [",", m] : [m])) } });
  const prependMethod = box("newobj", "prepend method", [720, 484, 100, 22], { numinlets: 1, numoutlets: 1 });
  wire(menu, 1, prependMethod);
  wire(prependMethod, 0, node);
  const adc = box("newobj", "adc~ 1", [840, 456, 50, 22], { numinlets: 1, numoutlets: 1 });
  const katch = box("newobj", "jit.catch~ 1", [840, 484, 90, 22], { numinlets: 1, numoutlets: 2 });
  const netSend = box("newobj", "jit.net.send @ip 127.0.0.1 @port 7476", [840, 512, 90, 22], { numinlets: 1, numoutlets: 2 });
  const grab = box("newobj", "qmetro 10", [940, 456, 70, 22], { numinlets: 2, numoutlets: 1 });
  const grabOn = box("toggle", "", [940, 430, 20, 20], { numinlets: 1, numoutlets: 1 });
  wire(grabOn, 0, grab);
  wire(grab, 0, katch);
  wire(adc, 0, katch);
  wire(katch, 0, netSend);
  if (extra) extra({ box, wire, node });
  // images: the image model's frames (64×64 RGB matrices) into a jit.pwindow, bent by
  // Rotate and Zoom on sliders; 'set' on a slider stops the modulator on its control
  const imageIn = box("newobj", "jit.net.recv @port 7475", [650, 600, 160, 22], { numinlets: 1, numoutlets: 2 });
  const view = box("jit.pwindow", "", [650, 640, 128, 128], { numinlets: 1, numoutlets: 2 });
  wire(imageIn, 0, view);
  box("comment", "image: load image, stream start, then bend and move", [960, 560, 260, 20], { numinlets: 1, numoutlets: 0 });
  IMAGE_MESSAGES.forEach((text, i) => {
    const id = box("message", text, [960, 584 + i * 26, 230, 22], { numinlets: 2, numoutlets: 1 });
    wire(id, 0, node);
  });
  IMAGE_SLIDERS.forEach(([name, low, high], i) => {
    const x = 800 + i * 150;
    const slider = box("slider", "", [x, 780, 140, 18], { numinlets: 1, numoutlets: 1, attrs: { orientation: 1 } });
    const scale = box("newobj", `scale 0 127 ${low.toFixed(1)} ${high.toFixed(1)}`, [x, 804, 140, 22], { numinlets: 6, numoutlets: 1 });
    const prepend = box("newobj", `prepend set ${name}`, [x, 830, 120, 22], { numinlets: 1, numoutlets: 1 });
    wire(slider, 0, scale);
    wire(scale, 0, prepend);
    wire(prepend, 0, node);
  });
  return {
    patcher: {
      fileversion: 1,
      appversion: { major: 8, minor: 6, revision: 0, architecture: "x64", modernui: 1 },
      classnamespace: "box",
      rect: [100, 100, 1240, 880],
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
// [oscformat] takes lists: a message box whose first atom is a word must start with
// "list" (otherwise the word is a method name [oscformat] does not have).

/** A message box's text for the arguments of an OSC message to [oscformat]. */
export function pdMessageText(args) {
  if (args.length === 0) return "bang";
  const text = args.join(" ").replace(/([;,$])/g, "\\$1");
  return Number.isFinite(Number(args[0])) ? text : `list ${text}`;
}

/** Ports the Pd patch uses: the plugin's OSC port and the one --osc-reply sends to. */
export const PD_PORTS = { plugin: 7400, reply: 7402 };

function pdPatch() {
  const objs = [];
  const conns = [];
  const add = (line) => objs.push(line) - 1;
  const connect = (a, o, b, i) => conns.push(`#X connect ${a} ${o} ${b} ${i};`);
  const rows = Math.ceil(DEMO_MESSAGES.length / 3);
  const bottom = 40 + rows * 50;
  add(`#X text 20 10 tfbend over OSC: each message is /tfbend/<command> <atoms>. Start the plugin with: npm start -- --osc-reply 127.0.0.1:${PD_PORTS.reply} so replies arrive here. Click connect first.;`);
  const send = add(`#X obj 20 ${bottom + 30} netsend -u -b;`);
  const connectMsg = add(`#X msg 20 ${bottom} connect 127.0.0.1 ${PD_PORTS.plugin};`);
  connect(connectMsg, 0, send, 0);
  const commandBox = (x, y, command, args) => {
    const msg = add(`#X msg ${x} ${y} ${pdMessageText(args)};`);
    const fmt = add(`#X obj ${x} ${y + 22} oscformat tfbend ${command};`);
    connect(msg, 0, fmt, 0);
    connect(fmt, 0, send, 0);
  };
  DEMO_MESSAGES.forEach((text, i) => {
    const [command, ...args] = text.split(" ");
    commandBox(20 + (i % 3) * 230, 40 + Math.floor(i / 3) * 50, command, args);
  });
  // replies: /tfbend/ok|error|event ... print; /tfbend/audio blobs (the stream) are dropped here
  const recv = add(`#X obj 20 ${bottom + 70} netreceive -u -b ${PD_PORTS.reply};`);
  const parse = add(`#X obj 20 ${bottom + 100} oscparse;`);
  const strip = add(`#X obj 20 ${bottom + 130} list trim;`);
  const route = add(`#X obj 20 ${bottom + 160} route tfbend;`);
  const dropAudio = add(`#X obj 20 ${bottom + 190} route audio;`);
  const print = add(`#X obj 20 ${bottom + 220} print tfbend;`);
  connect(recv, 0, parse, 0);
  connect(parse, 0, strip, 0);
  connect(strip, 0, route, 0);
  connect(route, 0, dropAudio, 0);
  connect(dropAudio, 1, print, 0);
  // live input: [adc~] → 512-sample chunks → /tfbend/audio_in <seq> 44100 <samples...>
  const live = bottom + 270;
  add(`#X text 250 ${live} live input: choose a method that takes audio \\, stream start \\, then 1 (0 stops). DSP on for the adc~ signal.;`);
  commandBox(250, live + 40, "method", ["forward"]);
  commandBox(360, live + 40, "method", ["decode"]);
  const on = add(`#X msg 250 ${live + 100} 1;`);
  const off = add(`#X msg 290 ${live + 100} 0;`);
  const metro = add(`#X obj 250 ${live + 130} metro ${((INPUT_CHUNK / 44100) * 1000).toFixed(6)};`);
  const trig = add(`#X obj 250 ${live + 160} t b b b;`);
  const adc = add(`#X obj 480 ${live + 130} adc~ 1;`);
  const table = add(`#X obj 480 ${live + 100} array define tfbend-in ${INPUT_CHUNK};`);
  const record = add(`#X obj 480 ${live + 190} tabwrite~ tfbend-in;`);
  const get = add(`#X obj 310 ${live + 190} array get tfbend-in;`);
  const rate = add(`#X obj 310 ${live + 220} list prepend 44100;`);
  const count = add(`#X obj 420 ${live + 160} f;`);
  const inc = add(`#X obj 460 ${live + 160} + 1;`);
  const withSeq = add(`#X obj 310 ${live + 250} list prepend;`);
  const format = add(`#X obj 310 ${live + 280} oscformat tfbend audio_in;`);
  connect(on, 0, metro, 0);
  connect(off, 0, metro, 0);
  connect(metro, 0, trig, 0);
  connect(trig, 2, count, 0); // first the sequence number (cold), then the last chunk, then record the next
  connect(count, 0, inc, 0);
  connect(inc, 0, count, 1);
  connect(count, 0, withSeq, 1);
  connect(trig, 1, get, 0);
  connect(get, 0, rate, 0);
  connect(rate, 0, withSeq, 0);
  connect(withSeq, 0, format, 0);
  connect(format, 0, send, 0);
  connect(trig, 0, record, 0);
  connect(adc, 0, record, 0);
  void table;
  return [`#N canvas 100 100 720 ${live + 340} 12;`, ...objs, ...conns].join("\n") + "\n";
}
writeFileSync(new URL("tfbend.pd", import.meta.url), pdPatch());
