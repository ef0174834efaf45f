export { AudioAutoencoder, AudioDecoder, AudioEncoder, CausalAudioEncoder, CausalConv1d, ResidualBlock, Upsample1d, setStreaming, AUDIO_LATENT, AUDIO_RATIO } from "./audio.js";
export { ImageDecoder, IMAGE_LATENT } from "./image.js";
export { Stanley } from "./stanley.js";
export { registerArchitecture, createModule, architectures } from "./registry.js";
