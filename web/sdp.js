// The answer the page applies, adjusted for what Chromium does with it.
//
// Chromium starts a send's bandwidth estimate at 300 kbps and, against this server, raised it so
// slowly that a 640x480 camera went out at 320x240 or 480x360 for the first 25 to 35 s (the
// sender's qualityLimitationReason: "bandwidth"): the effect worked on a quarter to three
// quarters fewer pixels than the camera has. Starting the estimate at START_KBPS, a parameter of
// the answer's video codecs that Chromium reads and other browsers ignore, sends the full size
// after about 2 s; the estimate still falls where the network loses packets.
//
// The page also asks for H.264 before the other video codecs where the browser both encodes
// and decodes it: Chromium's OpenH264 and FFmpeg took 2.5-3.0 and 1.0-1.2 ms a 640x496 frame
// against libvpx VP8's 5.5 and 2.3 (its own stats, totalEncodeTime and totalDecodeTime), and the
// server's encoder costs less too. The server answers in the offer's order (its --codec auto).
"use strict";

window.LivefxSdp = (() => {
  const START_KBPS = 2500;
  const VIDEO_CODECS = /a=rtpmap:(\d+) (VP8|VP9|H264|AV1)\/90000/g;

  /** ``sdp`` with x-google-start-bitrate on each video codec's format parameters. */
  function startAtFullSize(sdp) {
    return sdp.split(/(?=\r\nm=)/).map((section) => {
      if (!section.replace(/^\r\n/, "").startsWith("m=video")) return section;
      for (const [, pt] of section.matchAll(VIDEO_CODECS)) {
        const fmtp = new RegExp(`(a=fmtp:${pt} [^\\r\\n]*)`);
        section = fmtp.test(section)
          ? section.replace(fmtp, `$1;x-google-start-bitrate=${START_KBPS}`)
          : section.replace(new RegExp(`(a=rtpmap:${pt} [^\\r\\n]*)`), `$1\r\na=fmtp:${pt} x-google-start-bitrate=${START_KBPS}`);
      }
      return section;
    }).join("");
  }

  const isH264 = (codec) => codec.mimeType.toLowerCase() === "video/h264";

  /** Put H.264 first in ``pc``'s video transceivers' codec preferences where this browser both
   * sends and receives it (else leave the browser's order). Returns whether it did. */
  function preferH264(pc) {
    if (!("setCodecPreferences" in RTCRtpTransceiver.prototype)) return false;
    const sends = (RTCRtpSender.getCapabilities("video")?.codecs || []).some(isH264);
    const codecs = RTCRtpReceiver.getCapabilities("video")?.codecs || [];
    if (!sends || !codecs.some(isH264)) return false;
    const ordered = [...codecs.filter(isH264), ...codecs.filter((c) => !isH264(c))];
    const video = pc.getTransceivers().filter((t) => t.receiver.track.kind === "video");
    for (const transceiver of video) transceiver.setCodecPreferences(ordered);
    return video.length > 0;
  }

  return { startAtFullSize, preferH264, START_KBPS };
})();
