// Lip sync for the page, where sound is heard or recorded: sound and picture should leave the
// browser equally late. Each poll measures how long each actually waited since the last one
// (the sound: its jitter buffer, its playout, and how much later the server sent it; the
// picture: its jitter buffer) and moves one signed hold by part of the difference: a hold on
// the picture's jitter buffer while the sound is later, on the sound's while the picture is.
// Measured waits, not the targets set: a video jitter buffer reaches its target slowly and
// short of it, and on a starved machine either wait swings by a hundred milliseconds or more
// from one poll to the next; a hold that jumped to each reading left them apart by as much.
// Chromium releases frames to recorders as it decodes them, so only holding them in the
// jitter buffer keeps a recording in sync.
"use strict";

window.LivefxLipSync = (() => {
  const GAIN = 0.5;          // share of the measured difference corrected per poll
  const MAX_HOLD_MS = 4000;  // what jitterBufferTarget accepts

  // A receiver's cumulative figures: items out of the jitter buffer and their total wait (s);
  // for sound also the playout's.
  async function readReceiver(pc, receiver) {
    let rtp = null, playout = null;
    for (const s of (await pc.getStats(receiver.track)).values()) {
      if (s.type === "inbound-rtp") rtp = s;
      if (s.type === "media-playout") playout = s;
    }
    if (!rtp) return null;
    return {
      count: rtp.jitterBufferEmittedCount || 0,
      wait: rtp.jitterBufferDelay || 0,
      playoutCount: playout ? playout.totalSamplesCount : 0,
      playoutWait: playout ? playout.totalPlayoutDelay : 0,
    };
  }

  // Mean wait (ms) per item between two readings; null when no item came out.
  const meanWait = (now, before, wait, count) => {
    const items = now[count] - (before ? before[count] : 0);
    return items > 0 ? 1000 * (now[wait] - (before ? before[wait] : 0)) / items : null;
  };

  class LipSync {
    /** @param {RTCPeerConnection} pc  @param {() => number} soundAfterPictureMs how much later the server sends sound than picture */
    constructor(pc, soundAfterPictureMs) {
      this.pc = pc;
      this.soundAfterPictureMs = soundAfterPictureMs;
      this.last = { audio: null, video: null };
      this.hold = null; // ms; > 0 holds the picture, < 0 holds the sound
      this.playoutMs = 0;
    }

    receiver(kind) {
      return this.pc.getReceivers().find((r) => r.track && r.track.kind === kind);
    }

    /** Measure both waits since the last poll and move the hold; no-op until both moved. */
    async poll() {
      const audio = this.receiver("audio"), video = this.receiver("video");
      if (!audio || !video || !("jitterBufferTarget" in video)) return;
      const [a, v] = await Promise.all([readReceiver(this.pc, audio), readReceiver(this.pc, video)]);
      if (!a || !v) return;
      const before = this.last;
      this.last = { audio: a, video: v };
      const soundWait = meanWait(a, before.audio, "wait", "count");
      const pictureWait = meanWait(v, before.video, "wait", "count");
      const playout = meanWait(a, before.audio, "playoutWait", "playoutCount");
      if (playout !== null) this.playoutMs = playout;
      if (soundWait === null || pictureWait === null) return;
      const soundLate = soundWait + this.playoutMs + (this.soundAfterPictureMs() || 0) - pictureWait;
      // The first reading sets the hold outright; after that it moves part of the way.
      this.hold = this.hold === null ? soundLate + pictureWait : this.hold + GAIN * soundLate;
      this.hold = Math.max(-MAX_HOLD_MS, Math.min(MAX_HOLD_MS, this.hold));
      video.jitterBufferTarget = Math.max(0, this.hold);
      if ("jitterBufferTarget" in audio) audio.jitterBufferTarget = this.hold < 0 ? -this.hold : null;
    }

    /** Both receivers back to the lowest latency. */
    release() {
      for (const kind of ["audio", "video"]) {
        const r = this.receiver(kind);
        if (r && "jitterBufferTarget" in r) r.jitterBufferTarget = null;
      }
    }
  }

  return { LipSync };
})();
