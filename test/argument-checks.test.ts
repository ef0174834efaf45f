// Callback arguments are checked where they enter: names against the callback's declared
// arguments, types with a reply that says what to send, values against declared domains;
// a control created by binding an argument takes its domain as range. A failure changes nothing.
import { mkdirSync } from "node:fs";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as tb from "tfbend";
import { makeModelsDir } from "./session-fixture.js";
import { Stanley } from "./helpers.js";

let session: tb.control.Session;

beforeAll(async () => {
  const dirs = await makeModelsDir();
  mkdirSync(dirs.workspace, { recursive: true });
  session = new tb.control.Session({ ...dirs });
});

beforeEach(async () => {
  await run("load audio");
});

const run = (line: string) => session.execute(tb.control.parseLine(line));
const runAtoms = (atoms: tb.control.Atom[]) => session.execute(atoms);

async function expectError(line: string | tb.control.Atom[], message: RegExp): Promise<void> {
  const before = (await run("bendings")).values;
  const controls = (await run("controls")).values;
  const reply = typeof line === "string" ? await run(line) : await runAtoms(line);
  expect(reply.ok, String(line)).toBe(false);
  expect(String(reply.values[0])).toMatch(message);
  expect(String(reply.values[0])).not.toMatch(/is not a function|undefined|\(intermediate value\)/);
  expect((await run("bendings")).values).toEqual(before);
  expect((await run("controls")).values).toEqual(controls);
}

describe("callback argument names", () => {
  it("an unknown argument name is an error listing the callback's arguments", async () => {
    await expectError("bend net_2_conv mask prb 0.3", /Mask has no argument 'prb' \(its arguments: prob, dim, seed\)/);
    await expectError("bend net_2_conv normal sdt 0.1", /Normal has no argument 'sdt' \(its arguments: std, mean, op, dim, seed\)/);
  });

  it("a saved config with an unknown argument is refused too", () => {
    const resolver = (p: tb.ParameterJSON) => new tb.BendingParameter(p.control, p.value);
    expect(() => tb.callbackFromJSON({ type: "Mask", args: { prb: 0.3 }, seed: 1 }, resolver)).toThrow(/Mask has no argument 'prb'/);
  });
});

describe("callback argument types", () => {
  it("dim takes integer axes and says so", async () => {
    await expectError("bend net_2_conv mask prob 0.3 dim x", /Mask dim must be an integer axis \(e\.g\. dim -2.*got the word 'x'/);
    await expectError("bend net_2_conv mask prob 0.3 dim 1.5", /Mask dim must be an integer axis/);
    await expectError("bend net_2_conv reverse dim x", /Reverse dim must be an integer axis/);
    await expectError("bend net_2_conv permute dim x", /Permute dim must be an integer axis/);
    expect((await run("bend net_2_conv mask prob 0.3 dim -2 dim 1")).ok).toBe(true);
    expect((await run("bendings")).values).toEqual(["Mask(prob=0.300, dim=[-2, 1])"]);
  });

  it("numbers, words and controls are each asked for by name", async () => {
    await expectError("bend net_2_conv mask prob loud", /Mask prob must be a number or @control, got the word 'loud'/);
    await expectError("bend net_2_conv normal std 0.1 op sideways", /Normal op must be one of add, mul, got the word 'sideways'/);
    await expectError("bend net_2_conv normal std 0.1 op 3", /Normal op must be one of add, mul, got the number 3/);
    await expectError("bend net_2_conv capture maxPasses 2.5", /Capture maxPasses must be an integer/);
    await expectError("bend net_2_conv mask prob @keep=abc", /control value in '@keep=abc' is not a number/);
    await expectError("bend net_2_conv mask prob 0.3 seed x", /seed must be a number, got the word 'x'/);
  });
});

describe("numbers sent as strings", () => {
  it("a string that is exactly a decimal number is a number where one is required", async () => {
    expect(await runAtoms(["bend", "net_2_conv", "mask", "prob", "0.3", "dim", "-2", "seed", "7"])).toMatchObject({ ok: true });
    expect((await run("bendings")).values).toEqual(["Mask(prob=0.300, dim=-2)"]);
    expect(await runAtoms(["bend", "net_2_conv", "scale", "scale", "@gain=1.5"])).toMatchObject({ ok: true });
    expect(await runAtoms(["set", "gain", "2"])).toMatchObject({ ok: true, values: ["gain", 2] });
    expect(await runAtoms(["input", ...Array.from({ length: 8 }, () => "0.25")])).toMatchObject({ ok: true });
    expect(await runAtoms(["interpolate", "default", "1"])).toMatchObject({ ok: true });
  });

  it("anything else stays an error naming the argument and the type", async () => {
    await expectError(["bend", "net_2_conv", "mask", "prob", "0.3x"], /Mask prob must be a number or @control, got the word '0\.3x'/);
    await expectError(["bend", "net_2_conv", "mask", "prob", ""], /Mask prob must be a number or @control, got the word ''/);
    await expectError(["bend", "net_2_conv", "mask", "prob", "0x10"], /got the word '0x10'/);
    const reply = await runAtoms(["set", "nothing", " 1"]);
    expect(reply.ok).toBe(false);
    await run("bend net_2_conv scale scale @gain=1");
    await expectError(["set", "gain", "1,5"], /value must be a number, got the word '1,5'/);
  });
});

describe("argument domains", () => {
  it("values outside a callback's declared domain are refused", async () => {
    await expectError("bend net_2_conv mask prob 1.5", /Mask prob must be \[0, 1\], got value 1\.5/);
    await expectError("bend net_2_conv orderedmask prob -0.1", /OrderedMask prob must be \[0, 1\]/);
    await expectError("bend net_2_conv normal std -1", /Normal std must be >= 0, got value -1/);
    await expectError("bend net_2_conv clamp min 1 max 0", /Clamp min \(1\) is above max \(0\)/);
    await expectError("bend net_2_conv mask prob 0.5 dim 7", /dim 7 is out of range for shape/);
    await expectError("bend net_2_conv mask prob @keep=3", /Mask prob must be \[0, 1\], got control 'keep' = 3/);
  });

  it("a control created by binding takes the domain as its range: set outside is an error, controls shows it", async () => {
    expect((await run("bend net_2_conv mask prob @keep=0.5")).ok).toBe(true);
    expect((await run("controls")).values).toEqual(["keep", 0.5, 0, 1]);
    expect((await run("controls")).dict).toEqual([{ name: "keep", value: 0.5, min: 0, max: 1 }]);
    await expectError("set keep 7", /control 'keep' value 7 is outside its range \[0, 1\]/);
    expect((await run("get keep")).values).toEqual(["keep", 0.5]);
    expect((await run("bend net_7_conv1 normal std @amount=0.1")).ok).toBe(true);
    const amount = ((await run("controls")).dict as { name: string; min: number | null; max: number | null }[]).find((c) => c.name === "amount");
    expect(amount).toEqual({ name: "amount", value: 0.1, min: 0, max: null });
    await expectError("set amount -0.5", /outside its range \[0, Infinity\]/);
    expect((await run("set amount 4")).ok).toBe(true);
    // unbounded arguments make unbounded controls
    expect((await run("bend net_2_conv scale scale @gain=-3")).ok).toBe(true);
    expect((await run("set gain -40")).ok).toBe(true);
  });

  it("a half-open range survives a saved config", async () => {
    await run("bend net_7_conv1 normal std @amount=0.2");
    expect((await run("config save halfopen")).ok).toBe(true);
    await run("reset");
    expect((await run("config load halfopen")).ok).toBe(true);
    await expectError("set amount -1", /outside its range/);
    expect((await run("set amount 3")).ok).toBe(true);
  });

  it("the callbacks command lists each argument's domain for the panel", async () => {
    const dict = (await run("callbacks")).dict as { type: string; args: { name: string; min?: number | null; max?: number | null }[] }[];
    const mask = dict.find((c) => c.type === "Mask")!;
    expect(mask.args.find((a) => a.name === "prob")).toMatchObject({ min: 0, max: 1 });
  });
});

describe("callback constructor arguments", () => {
  it("axes must be integers", () => {
    const bended = new tb.BendedModule(new Stanley());
    expect(() => bended.bend(new tb.Mask(0.5, { dim: 0.5 }), "conv_modules.0.weight")).toThrow(/dim must be an integer/);
    expect(() => new tb.Capture({ maxPasses: 1e6 })).toThrow(/Capture keeps 1 to 1024 passes/);
  });
});
