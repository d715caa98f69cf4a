// The alert chime (only with ?sound=1): a few notes synthesized with WebAudio, no files.

let ctx = null;

export function chime(big = false) {
  try {
    ctx = ctx || new AudioContext();
    if (ctx.state === "suspended") ctx.resume().catch(() => {});
    const notes = big ? [523.25, 659.25, 783.99, 1046.5] : [659.25, 987.77];
    notes.forEach((freq, i) => {
      const at = ctx.currentTime + i * 0.12;
      const osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.type = "triangle";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.5);
      osc.connect(gain).connect(ctx.destination);
      osc.start(at);
      osc.stop(at + 0.55);
    });
  } catch { /* no audio device: the alert still shows */ }
}
