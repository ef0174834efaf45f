// npm run bench: every benchmark, printed as Markdown tables (paste into the README).
import { printCore, runCore } from "./core.js";
import { printAudio, runAudio } from "./audio.js";
import { printPlugin, runPlugin } from "./plugin.js";
import { printTorchScriptLoad, runTorchScriptLoad } from "./torchscript-load.js";
import { printTorchScript, runTorchScript } from "./torchscript.js";
import { printConvTranspose, runConvTranspose } from "./conv-transpose.js";
import { printCopies, runCopies } from "./copies.js";
import { printRave, runRave } from "./rave.js";
import { printThreads, runThreads } from "./threads.js";
import { printAudioInput, runAudioInput } from "./audio-input.js";
import { printNative, runNative } from "./native.js";
import { printImage, runImage } from "./image.js";

printCore(runCore());
printAudio(await runAudio());
printPlugin(await runPlugin());
printTorchScript(await runTorchScript());
printTorchScriptLoad(await runTorchScriptLoad());
printConvTranspose(runConvTranspose());
printCopies(runCopies());
printRave(await runRave());
printNative(await runNative());
printThreads(runThreads());
printAudioInput(await runAudioInput());
printImage(await runImage());
