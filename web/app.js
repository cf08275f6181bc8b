// livefx browser client: camera in, processed video back, controls and live stats.
// window.livefx = { state, start(), stop(), stats() } makes the page scriptable and testable.
// stats().distinctFrames counts the frames shown whose frame code differs from the previous
// frame's (a held or repeated frame shows an old code; in-between frames carry the code of
// the camera frame they were made for).
// A broadcast (the server has its own source) needs no camera: the page shows viewer
// controls only and starts watching by itself.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const token = new URLSearchParams(location.search).get("token");
  const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws` +
    (token ? `?token=${encodeURIComponent(token)}` : "");

  let ws = null;
  let pc = null;
  let camera = null;
  let server = {};          // the latest "metrics" event
  let labels = [];          // the latest labels (from action recognition)
  let mode = "send-receive"; // or "broadcast": the server has its own source; no camera needed
  let watchedOnce = false;   // a broadcast starts playing by itself once, when the page opens
  let lastDecoded = { frames: 0, t: performance.now() };
  let lastIn = { frames: 0, t: performance.now(), fps: 0 };

  // Latency, measured end to end: every frame sent carries a 10-bit frame code in a band of
  // BAND rows above the camera picture (never over it: the canvas sent is BAND rows taller).
  // The server cuts the band off on arrival (models, stats and outputs see the picture only)
  // and puts it back above the frames it returns to this page; when a processed frame is
  // about to be displayed we read the code back and subtract the time the frame was drawn.
  // Capture -> display, through encode, network, model and decode. The page never shows the
  // band, nor puts it in snapshots or recordings. The band's layout: web/marker.js.
  const { MARK_BITS, CELL, BAND, CODE_H } = window.LivefxMarker, MARK_W = (MARK_BITS + 2) * CELL;
  const sentAt = new Map();
  let counter = 0, sentWidth = 0, sentHeight = 0, pictureAspect = 0, measured = [], markerFrames = 0;
  let distinctFrames = 0, lastCode = null;

  // The page's own verdict on smoothness: what it shows against what the server takes in,
  // over the last few seconds, and its measured latency against the budget.
  const RATE_WINDOW_MS = 3000, MIN_SHOWN_SHARE = 0.8;
  let history = [], pageDegraded = [];

  const api = {
    state: "idle", start, stop, stats, snapshot, startRecording, stopRecording,
    get markerFrames() { return markerFrames; },
    get peer() { return pc; },
  };
  window.livefx = api;

  function setState(state) {
    api.state = state;
    $("state").textContent = state;
    $("state").className = `state ${state}`;
    $("start").disabled = state === "connecting" || state === "connected";
    $("stop").disabled = state === "idle";
  }

  function showError(message) {
    $("error").hidden = false;
    $("error").textContent = message;
  }

  function send(message) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  // The websocket, ready once the server's hello has said what kind of server it is (a page
  // that starts before knowing would ask a broadcasting server for a camera).
  let socketReady = null;
  function openSocket() {
    if (!socketReady) {
      socketReady = new Promise((resolve, reject) => {
        const socket = ws = new WebSocket(wsUrl);
        let lastError = null;
        socket.onerror = () => reject(new Error("cannot reach the livefx server"));
        socket.onclose = () => {
          reject(new Error(lastError || "the livefx server closed the connection"));
          if (ws !== socket) return; // an old socket, closed by stop()
          socketReady = null;
          if (api.state === "connecting" || api.state === "connected") setState("failed");
        };
        socket.onmessage = (event) => {
          const msg = JSON.parse(event.data);
          if (msg.type === "error") lastError = msg.message;
          onMessage(msg);
          if (msg.type === "hello") resolve();
        };
      });
      socketReady.catch(() => { socketReady = null; });
    }
    return socketReady;
  }

  const pending = {};
  function waitFor(type) {
    return new Promise((resolve) => { pending[type] = resolve; });
  }

  function onMessage(msg) {
    if (pending[msg.type]) { pending[msg.type](msg); delete pending[msg.type]; }
    switch (msg.type) {
      case "hello":
        fillStyles(msg.styles, msg.style);
        $("budget").value = msg.budget_ms;
        $("mix").value = Math.round(100 * (msg.mix ?? 1));
        showMix();
        $("mirror-output").checked = Boolean(msg.mirror);
        mode = msg.mode || mode;
        showMode();
        $("interp-label").hidden = !msg.interpolation;
        if (msg.diffusion) fillPrompt(msg.diffusion);
        $("prompt-form").hidden = !msg.diffusion;
        if (mode === "broadcast" && !watchedOnce && api.state === "idle") {
          watchedOnce = true;
          setTimeout(start); // after this hello has resolved the socket
        }
        break;
      case "prompt": fillPrompt(msg); break;
      case "metrics": server = msg; renderStats(); break;
      case "labels": labels = msg.labels || []; break;
      case "state": if (msg.state === "failed") setState("failed"); break;
      // The server's models load and warm up before it answers (tens of seconds on a first start).
      case "progress": if (api.state === "connecting") $("state").textContent = `connecting: ${msg.message}`; break;
      case "error": showError(msg.message); break;
      case "source_ended": showError(`the server's video (${msg.source}) has ended: nothing more will come`); break;
    }
  }

  // A broadcast's viewer has no camera to pick, no resolution to choose and no preview:
  // those controls go, Start becomes Watch (it asks for no camera).
  function showMode() {
    const broadcast = mode === "broadcast";
    for (const id of ["camera-label", "resolution-label", "mic-label", "mirror-label", "local-figure"]) $(id).hidden = broadcast;
    $("start").textContent = broadcast ? "Watch" : "Start";
    $("start").title = broadcast ? "watch the server's processed video" : "send your camera and get it back processed";
    document.querySelector("main").classList.toggle("broadcast", broadcast);
  }

  function fillPrompt(settings) {
    $("prompt").value = settings.prompt ?? "";
    $("strength").value = settings.strength ?? 0.5;
    $("seed").value = settings.seed ?? 0;
  }

  function fillStyles(styles, current) {
    const select = $("style");
    select.innerHTML = "";
    const names = ["none", ...styles];
    if (current && !names.includes(current)) names.push(current);
    for (const name of names) {
      const option = document.createElement("option");
      option.value = option.textContent = name;
      option.selected = name === current;
      select.appendChild(option);
    }
  }

  async function listCameras() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    const select = $("camera");
    for (const d of devices.filter((d) => d.kind === "videoinput")) {
      if ([...select.options].some((o) => o.value === d.deviceId)) continue;
      const option = document.createElement("option");
      option.value = d.deviceId;
      option.textContent = d.label || `camera ${select.options.length}`;
      select.appendChild(option);
    }
  }

  function waitIceGathering(peer) {
    if (peer.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => { if (peer.iceGatheringState === "complete") resolve(); };
      peer.addEventListener("icegatheringstatechange", check);
      setTimeout(resolve, 2000); // host candidates are enough on a LAN; do not wait forever
    });
  }

  async function start() {
    if (api.state === "connecting" || api.state === "connected") return;
    $("error").hidden = true;
    setState("connecting");
    try {
      await openSocket();
      pc = new RTCPeerConnection();
      if (mode === "broadcast") {
        pc.addTransceiver("video", { direction: "recvonly" });
        pc.addTransceiver("audio", { direction: "recvonly" }); // the source's sound, if it has any
      } else {
        const [width, height] = $("resolution").value.split("x").map(Number);
        const deviceId = $("camera").value;
        if (!window.isSecureContext || !navigator.mediaDevices) {
          // Browsers grant a camera only to https:// pages or http://localhost.
          throw new Error(`this browser gives the camera only to a secure page: open ${location.host} over https`
            + " (start the server with livefx serve --https), or open the page on the server's own machine");
        }
        const video = { width: { ideal: width }, height: { ideal: height }, ...(deviceId ? { deviceId: { exact: deviceId } } : {}) };
        camera = await openCamera(video, $("mic").checked);
        $("local").srcObject = camera;
        listCameras().catch(() => {});
        const marked = await markedStream($("local"), camera);
        const markedTrack = marked.getVideoTracks()[0];
        const sender = pc.addTrack(markedTrack, marked);
        keepFullSize(sender);
        sendWhileHidden(sender, markedTrack, camera.getVideoTracks()[0]);
        // The microphone rides in the same stream: the server sends it back in sync with the picture.
        for (const mic of camera.getAudioTracks()) pc.addTrack(mic, marked);
        // Before the offer, so the server cuts the band off the very first frame.
        send({ type: "marker", width: sentWidth, height: sentHeight, band: BAND });
      }
      pc.ontrack = (event) => {
        const remote = $("remote");
        const stream = event.streams[0] || remote.srcObject || new MediaStream();
        if (!stream.getTracks().includes(event.track)) stream.addTrack(event.track);
        if (remote.srcObject !== stream) remote.srcObject = stream;
        if (event.track.kind === "audio") return;
        remote.onresize = remote.onloadedmetadata = () => fitBand(remote);
        if (mode !== "broadcast") watchMarkers(remote);
      };
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === "connected") setState("connected");
        if (pc.connectionState === "failed") setState("failed");
      };
      window.LivefxSdp.preferH264(pc);
      await pc.setLocalDescription(await pc.createOffer());
      await waitIceGathering(pc);
      const answer = waitFor("answer");
      send({ type: "offer", sdp: pc.localDescription.sdp });
      await pc.setRemoteDescription({ type: "answer", sdp: window.LivefxSdp.startAtFullSize((await answer).sdp) });
      for (const id of ["style", "budget", "mix", "mirror-output", "interpolate", "snapshot", "record", "prompt", "strength", "seed", "apply-prompt"]) {
        $(id).disabled = false;
      }
    } catch (err) {
      showError(err.message || String(err));
      setState("failed");
    }
  }

  function stop() {
    if (recorder) {
      $("record").textContent = "Record";
      stopRecording().then((webm) => download(webm, `livefx-${stamp()}.webm`));
    }
    if (pc) pc.close();
    if (ws) ws.close();
    if (camera) camera.getTracks().forEach((t) => t.stop());
    pc = ws = camera = null;
    socketReady = null;
    pictureAspect = 0;
    server = {};
    measured = [];
    history = [];
    pageDegraded = [];
    distinctFrames = 0;
    lastCode = null;
    sentAt.clear();
    setState("idle");
  }

  // The camera picture with the timing band above it: what the page sends while visible.
  async function markedStream(video, cameraStream) {
    await new Promise((resolve) => { if (video.readyState >= 2) resolve(); else video.onloadeddata = resolve; });
    // Each camera frame as it comes (Chromium), marked on its own planes: every frame once,
    // whether or not the preview shows it (measured: 552-558 distinct frames of ~590 decoded
    // on the page in 20 s, against 440-506 drawn from the preview). Else drawn from the preview.
    sentWidth = video.videoWidth;
    sentHeight = video.videoHeight + BAND;
    pictureAspect = video.videoWidth / video.videoHeight;
    if (window.MediaStreamTrackProcessor && window.MediaStreamTrackGenerator && window.VideoFrame) {
      const generator = new MediaStreamTrackGenerator({ kind: "video" });
      const [track] = cameraStream.getVideoTracks();
      const marking = new TransformStream({
        async transform(frame, controller) {
          const code = counter;
          counter = (counter + 1) % (1 << MARK_BITS);
          sentAt.set(code, performance.now());
          try {
            controller.enqueue(await window.LivefxMarker.marked(frame, code, sentWidth, sentHeight - BAND));
          } finally {
            frame.close();
          }
        },
      });
      new MediaStreamTrackProcessor({ track }).readable.pipeThrough(marking)
        .pipeTo(generator.writable).catch(() => {});
      return new MediaStream([generator]);
    }
    const canvas = document.createElement("canvas");
    canvas.width = sentWidth;
    canvas.height = sentHeight;
    const ctx = canvas.getContext("2d");
    // Frame rate 0 and requestFrame() after each drawing: every camera frame is sent exactly
    // once. A fixed capture rate samples the canvas out of phase with the camera: it sent some
    // frames twice and skipped others (distinct frames on the page 20 of 24 decoded per second).
    const stream = canvas.captureStream(0);
    const track = stream.getVideoTracks()[0];
    const draw = () => {
      if (!camera) return;
      ctx.drawImage(video, 0, BAND, canvas.width, canvas.height - BAND);
      window.LivefxMarker.drawBand(ctx, canvas.width, counter);
      sentAt.set(counter, performance.now());
      counter = (counter + 1) % (1 << MARK_BITS);
      if (track.requestFrame) track.requestFrame();
      video.requestVideoFrameCallback(draw);
    };
    video.requestVideoFrameCallback(draw);
    return stream;
  }

  // The server scales the effect to its budget itself: the browser should send the camera's
  // every pixel and, when it must save, drop frames rather than shrink them (Chromium's H.264
  // quality scaler otherwise started the send at 480x372 for its first seconds).
  function keepFullSize(sender) {
    const params = sender.getParameters();
    params.degradationPreference = "maintain-resolution";
    sender.setParameters(params).catch(() => {}); // a browser without the setting keeps its own
  }

  // A hidden tab gets no video-frame callbacks, so the marked canvas stops and the stream
  // would freeze (OBS and video calls keep this page in the background). While hidden, the
  // camera track itself is sent: no frame codes then, so latency is the server's estimate.
  let hidden = document.visibilityState === "hidden";
  function sendWhileHidden(sender, markedTrack, cameraTrack) {
    const swap = () => {
      hidden = document.visibilityState === "hidden";
      if (!pc || pc.signalingState === "closed") return;
      sender.replaceTrack(hidden ? cameraTrack : markedTrack).catch((err) => showError(err.message));
      if (hidden) measured = [];
    };
    document.addEventListener("visibilitychange", swap);
    if (hidden) swap();
  }

  // Band rows on top of a returned width x height frame: BAND when it carries the band (the
  // server sends it back BAND rows tall, as wide as the picture), 0 for a plain picture (sent
  // while the page was hidden, or a broadcast).
  function bandRows(width, height) {
    if (!pictureAspect || !width || height <= BAND) return 0;
    const plain = Math.abs(height - width / pictureAspect), banded = Math.abs(height - BAND - width / pictureAspect);
    return banded < plain ? BAND : 0;
  }

  // On screen the band is cropped off: the element takes the picture's shape and the video
  // covers it from the bottom, so the rows above the picture fall outside.
  function fitBand(video) {
    const rows = bandRows(video.videoWidth, video.videoHeight);
    video.classList.toggle("banded", rows > 0);
    video.style.aspectRatio = video.videoWidth ? `${video.videoWidth} / ${video.videoHeight - rows}` : "";
  }

  function watchMarkers(video) {
    const probe = document.createElement("canvas");
    probe.width = MARK_W; probe.height = BAND;
    const ctx = probe.getContext("2d", { willReadFrequently: true });
    const onFrame = (now, meta) => {
      if (!pc) return;
      const scale = sentWidth ? video.videoWidth / sentWidth : 1;
      const rows = bandRows(video.videoWidth, video.videoHeight);
      if (rows) ctx.drawImage(video, 0, 0, MARK_W * scale, rows, 0, 0, MARK_W, BAND);
      const px = rows ? ctx.getImageData(0, 0, MARK_W, BAND).data : null;
      const lum = (cell) => {
        const i = 4 * ((CODE_H / 2) * MARK_W + cell * CELL + CELL / 2);
        return 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
      };
      if (px && lum(0) > 160 && lum(MARK_BITS + 1) < 96) {
        let code = 0;
        for (let i = 1; i <= MARK_BITS; i++) code = (code << 1) | (lum(i) > 128 ? 1 : 0);
        if (code !== lastCode) distinctFrames++;
        lastCode = code;
        const t = sentAt.get(code);
        if (t !== undefined) {
          measured.push((meta.expectedDisplayTime || now) - t);
          if (measured.length > 60) measured.shift();
          markerFrames++;
        }
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  async function stats() {
    const distinct = distinctFrames; // read before decoding is counted: never above framesDecoded
    let framesDecoded = 0, fps = 0, jitterMs = 0;
    if (pc) {
      const report = await pc.getStats();
      report.forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "video") {
          framesDecoded = s.framesDecoded || 0;
          fps = s.framesPerSecond || 0;
          if (s.jitterBufferEmittedCount) jitterMs = 1000 * s.jitterBufferDelay / s.jitterBufferEmittedCount;
        }
      });
    }
    if (!fps) {
      const now = performance.now();
      fps = (framesDecoded - lastDecoded.frames) / Math.max(1e-3, (now - lastDecoded.t) / 1000);
      lastDecoded = { frames: framesDecoded, t: now };
    }
    let latencyMs = null, latencySource = null;
    if (measured.length >= 5 && !hidden) {
      latencyMs = [...measured].sort((a, b) => a - b)[Math.floor(measured.length / 2)];
      latencySource = "marker";
    } else if (server.capture_to_send_ms !== undefined) {
      // Until frame codes come back (broadcast, or the first frames): server capture->send
      // plus the browser's jitter-buffer delay, both measured, added as an estimate.
      latencyMs = server.capture_to_send_ms + jitterMs;
      latencySource = "estimate";
    }
    const video = receiverOf("video");
    const pictureHoldMs = video && video.jitterBufferTarget ? video.jitterBufferTarget : 0; // lip sync's hold
    const soundAfterPictureMs = server.sound_after_picture_ms ?? null;
    return { framesDecoded, distinctFrames: distinct, fps, latencyMs, latencySource, labels, pageDegraded,
             pictureHoldMs, soundAfterPictureMs };
  }

  // Frames in (at the server) and frames shown per second over the last RATE_WINDOW_MS;
  // null until the window is mostly full. Shown counts distinct frame codes where the page
  // reads them (its own camera, visible), else decoded frames (a broadcast has no codes).
  function recentRates(s) {
    if (server.frames_in === undefined || hidden) { history = []; return null; }
    const now = performance.now();
    const byCode = mode !== "broadcast" && markerFrames > 0;
    const sample = { t: now, framesIn: server.frames_in, shown: byCode ? s.distinctFrames : s.framesDecoded, byCode };
    const last = history.at(-1);
    // A new stream (counters restarted) or a switch of what is counted: start the window again.
    if (last && (sample.framesIn < last.framesIn || sample.shown < last.shown || byCode !== last.byCode)) history = [];
    history.push(sample);
    while (history.length > 1 && now - history[1].t >= RATE_WINDOW_MS) history.shift();
    const first = history[0], seconds = (now - first.t) / 1000;
    if (seconds < (0.66 * RATE_WINDOW_MS) / 1000) return null;
    return { in: (sample.framesIn - first.framesIn) / seconds, shown: (sample.shown - first.shown) / seconds, byCode };
  }

  // The page's own degraded reasons, advising the page's controls (not the server's flags).
  function degradedHere(s) {
    const reasons = [];
    const lower = mode === "broadcast" ? "" : "a lower Resolution or "; // a broadcast's size is the server's
    const lighter = `pick ${lower}a lighter Style${interpolating() ? ", or turn Interpolate off" : ""}`;
    const rates = recentRates(s);
    if (rates && rates.in > 1 && rates.shown < MIN_SHOWN_SHARE * rates.in) {
      const what = rates.byCode ? "distinct frames shown" : "frames shown";
      reasons.push(`${what} ${rates.shown.toFixed(1)} fps of ${rates.in.toFixed(1)} fps in: frames are dropped or repeated; ${lighter}`);
    }
    // The browser's sender shrinks the camera when its bandwidth estimate or the CPU is short
    // (web/sdp.js starts the estimate high): the effect then works on fewer pixels than the camera has.
    const got = server.input_size;
    if (mode !== "broadcast" && !hidden && got && sentWidth && got[0] < sentWidth) {
      reasons.push(`the browser sends the camera at ${got[0]}x${got[1]} of its ${sentWidth}x${sentHeight - BAND}` +
        ` (its bandwidth estimate or the CPU holds it down): the effect works on fewer pixels; pick ${lower}a lighter Style`);
    }
    const budget = server.budget_ms;
    if (s.latencyMs !== null && budget && s.latencyMs > budget) {
      // Lip sync's own hold (Sound or Record on) is a choice, not the style's cost: named as such.
      const held = s.pictureHoldMs > 0 && s.latencyMs - s.pictureHoldMs <= budget;
      reasons.push(held
        ? `capture → display ${s.latencyMs.toFixed(0)} ms is over the ${budget} ms Budget while lip sync holds the picture ${s.pictureHoldMs.toFixed(0)} ms for its sound; untick Sound (and stop Record) for the lowest latency`
        : `capture → display ${s.latencyMs.toFixed(0)} ms is over the ${budget} ms Budget; ${lighter}, or raise the Budget`);
    }
    return reasons;
  }

  const interpolating = () => !$("interp-label").hidden && $("interpolate").checked;

  // The server's degraded kinds (stream/scheduling/degrade.py), worded for this page: the server's own
  // text advises its command-line flags; here the advice names the page's controls.
  function serverDegraded(kind, text) {
    const lower = mode === "broadcast" ? "" : ", pick a lower Resolution";
    const lighter = `${lower}, or pick a lighter Style`;
    const interp = interpolating() ? ", or turn Interpolate off" : "";
    const advice = {
      passthrough: `frames pass through unprocessed: even the cheapest plan misses the Budget; raise the Budget${lighter}`,
      over_budget: "even the cheapest plan misses the Budget, so frames are processed late at the lowest scale:" +
        ` latency is the compute time and frames are dropped; raise the Budget${lighter}`,
      repeated: `even the cheapest plan misses the Budget, so the last processed frame is shown again; raise the Budget${lighter}`,
      scaled: `the effect runs at reduced resolution to hold the Budget; raise the Budget${lower} for full detail`,
      held: `in-between frames are held copies, not interpolated (no time left in the Budget); raise the Budget${lower}${interp}`,
      deferred: "action labels are being deferred to hold the Budget; raise the Budget",
      unstabilized: `stabilization is skipped on many frames to hold the Budget; raise the Budget${lighter}${interp}`,
    }[kind];
    return advice || withoutFlags(text);
  }

  // A server message with its command-line advice taken out (for kinds this page has no
  // wording of its own for): the clauses and asides that name a flag go.
  function withoutFlags(text) {
    const kept = text.split(";").map((part) => part.replace(/\s*\([^)]*--[^)]*\)/g, "").trim())
      .filter((part) => part && !part.includes("--"));
    return kept.join("; ") || "the server reports degraded output";
  }

  async function renderStats() {
    const s = await stats();
    const now = performance.now();
    if (server.frames_in !== undefined && now - lastIn.t > 900) {
      lastIn = { fps: (server.frames_in - lastIn.frames) / ((now - lastIn.t) / 1000), frames: server.frames_in, t: now };
    }
    $("fps").textContent = `${lastIn.fps.toFixed(1)} in / ${s.fps.toFixed(1)} shown`;
    $("send-latency").textContent = server.capture_to_send_ms !== undefined ? `${server.capture_to_send_ms.toFixed(0)} ms` : "-";
    $("latency").textContent = s.latencyMs !== null ? `${s.latencyMs.toFixed(0)} ms (${s.latencySource})` : "-";
    $("decoded").textContent = s.framesDecoded;
    const outputs = server.outputs;
    $("outputs-row").hidden = $("outputs").hidden = !outputs;
    if (outputs) {
      $("outputs").textContent = `${outputs.sinks.join(", ")}: ${outputs.fed_by_this_page
        ? "fed by this page's camera" : "fed by another page (this one takes over when it leaves)"}`;
    }
    $("dropped").textContent = server.frames_dropped ?? "-";
    $("stages").textContent = Object.entries(server.stages || {}).map(([k, v]) => `${k} ${v.p95.toFixed(0)} ms`).join(", ") || "-";
    const decisions = Object.entries(server.decisions || {}).map(([k, v]) => `${k} ${v}`).join(", ");
    $("decisions").textContent = decisions ? `${decisions} (when late: ${server.on_late})` : "-";
    const steps = Object.entries(server.steps || {}).map(([n, count]) => `${n}: ${count} frames`).join(", ");
    const lag = server.diffusion && server.diffusion.lag_frames ? `, output ${server.diffusion.lag_frames} frames late (stream batch)` : "";
    const skipped = server.diffusion && server.diffusion.skipped_similar ? `, ${server.diffusion.skipped_similar} similar frames repeated` : "";
    $("steps").textContent = steps ? steps + lag + skipped : "-";
    pageDegraded = degradedHere(s);
    const degraded = pageDegraded.concat(
      Object.entries(server.degraded || {}).map(([kind, text]) => serverDegraded(kind, text)),
      (server.disabled_stages || []).map((name) => `${name} turned off after failing (${server.last_stage_error})`),
    );
    $("degraded").textContent = degraded.join(" · ") || "no";
    $("degraded").classList.toggle("warn", degraded.length > 0);
    $("labels").textContent = s.labels.map((l) => `${l.label} ${(l.score * 100).toFixed(0)}%`).join(", ") || "-";
  }

  // The processed picture as a PNG (what the viewer sees, without the mirror, without the band).
  async function snapshot() {
    const video = $("remote");
    if (!video.videoWidth) throw new Error("no processed frame yet");
    const rows = bandRows(video.videoWidth, video.videoHeight);
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight - rows;
    canvas.getContext("2d").drawImage(video, 0, rows, canvas.width, canvas.height, 0, 0, canvas.width, canvas.height);
    return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  }

  // Lip sync, where sound is heard or recorded (web/lipsync.js: both receivers held equally
  // late). Otherwise nothing is held: the lowest latency.
  let syncTimer = null, lipSync = null;
  function keepInSync() {
    const wanted = Boolean(pc) && ($("sound").checked || Boolean(recorder));
    if (wanted && !syncTimer) {
      lipSync = new window.LivefxLipSync.LipSync(pc, () => server.sound_after_picture_ms || 0);
      const poll = () => lipSync.poll().catch(() => {});
      syncTimer = setInterval(poll, 500);
      poll();
    }
    if (!wanted && syncTimer) {
      clearInterval(syncTimer);
      syncTimer = null;
      lipSync.release();
      lipSync = null;
    }
  }
  const receiverOf = (kind) => pc && pc.getReceivers().find((r) => r.track && r.track.kind === kind);

  // The camera, and the microphone when asked for; a missing or refused microphone leaves the
  // camera alone (said once), never the whole start.
  async function openCamera(video, withMic) {
    if (withMic) {
      const audio = { echoCancellation: false, noiseSuppression: false, autoGainControl: false };
      try {
        return await navigator.mediaDevices.getUserMedia({ video, audio });
      } catch (err) {
        if (err.name !== "NotFoundError" && err.name !== "NotAllowedError" && err.name !== "NotReadableError") throw err;
        showError(`no microphone (${err.name}): sending the camera only`);
      }
    }
    return navigator.mediaDevices.getUserMedia({ video, audio: false });
  }

  // The processed stream into a WebM file, recorded in the browser: the picture without the
  // band, and the sound that came back with it.
  let recorder = null, chunks = [], recorded = null;
  function startRecording() {
    const stream = $("remote").srcObject;
    if (!stream) throw new Error("nothing to record yet");
    chunks = [];
    const picture = mode === "broadcast" ? { stream, stop() {} } : pictureOnly(stream);
    const sound = stream.getAudioTracks();
    recorded = {
      stream: new MediaStream([...picture.stream.getVideoTracks(), ...sound]),
      stop: () => picture.stop(),
    };
    const type = sound.length && MediaRecorder.isTypeSupported("video/webm;codecs=vp8,opus")
      ? "video/webm;codecs=vp8,opus" : "video/webm";
    recorder = new MediaRecorder(recorded.stream, { mimeType: type });
    keepInSync();
    recorder.ondataavailable = (event) => { if (event.data.size) chunks.push(event.data); };
    recorder.start(250);
  }
  function stopRecording() {
    if (!recorder) return Promise.resolve(null);
    const source = recorded;
    const done = new Promise((resolve) => {
      recorder.onstop = () => { source.stop(); resolve(new Blob(chunks, { type: "video/webm" })); };
    });
    recorder.stop();
    recorder = recorded = null;
    keepInSync();
    return done;
  }

  // The returned video without the band: each frame cropped as it is decoded (Chromium's
  // MediaStreamTrackProcessor: no copy, and it goes on in a hidden tab), else drawn onto a
  // canvas of the picture's size as it is shown. { stream, stop() }.
  function pictureOnly(stream) {
    const [input] = stream.getVideoTracks();
    if (window.MediaStreamTrackProcessor && window.MediaStreamTrackGenerator && window.VideoFrame) {
      const track = input.clone();
      const generator = new MediaStreamTrackGenerator({ kind: "video" });
      const crop = new TransformStream({
        transform(frame, controller) {
          const rows = bandRows(frame.displayWidth, frame.displayHeight);
          if (!rows) { controller.enqueue(frame); return; }
          const { x, y, width, height } = frame.visibleRect;
          try {
            controller.enqueue(new VideoFrame(frame, { visibleRect: { x, y: y + rows, width, height: height - rows } }));
          } catch (err) {
            // a frame that cannot be cropped is left out: the band never goes into a recording
          }
          frame.close();
        },
      });
      new MediaStreamTrackProcessor({ track }).readable.pipeThrough(crop).pipeTo(generator.writable).catch(() => {});
      return { stream: new MediaStream([generator]), stop() { track.stop(); generator.stop(); } };
    }
    const video = $("remote");
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight - bandRows(video.videoWidth, video.videoHeight);
    const ctx = canvas.getContext("2d");
    let running = true;
    const draw = () => {
      if (!running) return;
      const rows = bandRows(video.videoWidth, video.videoHeight);
      ctx.drawImage(video, 0, rows, video.videoWidth, video.videoHeight - rows, 0, 0, canvas.width, canvas.height);
      video.requestVideoFrameCallback(draw);
    };
    draw();
    const out = canvas.captureStream(30);
    return { stream: out, stop() { running = false; out.getTracks().forEach((t) => t.stop()); } };
  }

  function download(blob, name) {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  }
  const stamp = () => new Date().toISOString().replace(/[:.]/g, "-");

  $("snapshot").onclick = () =>
    snapshot().then((png) => download(png, `livefx-${stamp()}.png`)).catch((err) => showError(err.message));
  $("record").onclick = async () => {
    try {
      if (!recorder) {
        startRecording();
        $("record").textContent = "Stop recording";
      } else {
        $("record").textContent = "Record";
        download(await stopRecording(), `livefx-${stamp()}.webm`);
      }
    } catch (err) { showError(err.message); }
  };
  $("sound").onchange = () => { $("remote").muted = !$("sound").checked; keepInSync(); };
  $("mirror").onchange = () => document.querySelector("main").classList.toggle("mirrored", $("mirror").checked);
  $("start").onclick = start;
  $("stop").onclick = stop;
  $("style").onchange = () => send({ type: "style", name: $("style").value });
  $("prompt-form").onsubmit = (event) => {
    event.preventDefault();
    send({ type: "prompt", prompt: $("prompt").value, strength: Number($("strength").value), seed: Number($("seed").value) });
  };
  $("budget").onchange = () => send({ type: "budget", ms: Number($("budget").value) });
  $("interpolate").onchange = () => send({ type: "interpolate", on: $("interpolate").checked });
  // The effect mix: sent while the slider moves (at most every 100 ms) and where it stops.
  function showMix() { $("mix-value").textContent = `${$("mix").value}%`; }
  let mixTimer = null;
  const sendMix = () => { clearTimeout(mixTimer); mixTimer = null; send({ type: "mix", value: Number($("mix").value) / 100 }); };
  $("mix").oninput = () => { showMix(); if (!mixTimer) mixTimer = setTimeout(sendMix, 100); };
  $("mix").onchange = () => { showMix(); sendMix(); };
  $("mirror-output").onchange = () => send({ type: "mirror", on: $("mirror-output").checked });
  openSocket().catch((err) => showError(err.message)); // fetch the style list before Start
})();
