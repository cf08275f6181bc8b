// livefx browser client: camera in, processed video back, controls and live stats.
// window.livefx = { state, start(), stop(), stats() } makes the page scriptable and testable.
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
  let lastDecoded = { frames: 0, t: performance.now() };

  const api = { state: "idle", start, stop, stats };
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

  function openSocket() {
    return new Promise((resolve, reject) => {
      ws = new WebSocket(wsUrl);
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("cannot reach the livefx server"));
      ws.onclose = () => { if (api.state === "connecting" || api.state === "connected") setState("failed"); };
      ws.onmessage = (event) => onMessage(JSON.parse(event.data));
    });
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
        mode = msg.mode || mode;
        break;
      case "metrics": server = msg; renderStats(); break;
      case "labels": labels = msg.labels || []; break;
      case "state": if (msg.state === "failed") setState("failed"); break;
      case "error": showError(msg.message); break;
    }
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
      if (!ws || ws.readyState !== WebSocket.OPEN) await openSocket();
      pc = new RTCPeerConnection();
      if (mode === "broadcast") {
        pc.addTransceiver("video", { direction: "recvonly" });
      } else {
        const [width, height] = $("resolution").value.split("x").map(Number);
        const deviceId = $("camera").value;
        camera = await navigator.mediaDevices.getUserMedia({
          video: { width: { ideal: width }, height: { ideal: height }, ...(deviceId ? { deviceId: { exact: deviceId } } : {}) },
          audio: false,
        });
        $("local").srcObject = camera;
        listCameras().catch(() => {});
        for (const track of camera.getVideoTracks()) pc.addTrack(track, camera);
      }
      pc.ontrack = (event) => { $("remote").srcObject = event.streams[0] || new MediaStream([event.track]); };
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === "connected") setState("connected");
        if (pc.connectionState === "failed") setState("failed");
      };
      await pc.setLocalDescription(await pc.createOffer());
      await waitIceGathering(pc);
      const answer = waitFor("answer");
      send({ type: "offer", sdp: pc.localDescription.sdp });
      await pc.setRemoteDescription({ type: "answer", sdp: (await answer).sdp });
      for (const id of ["style", "budget"]) $(id).disabled = false;
    } catch (err) {
      showError(err.message || String(err));
      setState("failed");
    }
  }

  function stop() {
    if (pc) pc.close();
    if (ws) ws.close();
    if (camera) camera.getTracks().forEach((t) => t.stop());
    pc = ws = camera = null;
    server = {};
    setState("idle");
  }

  async function stats() {
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
    // Estimate: server capture->send (measured) + the browser's jitter-buffer delay (measured by the browser).
    const latencyMs = server.capture_to_send_ms !== undefined ? server.capture_to_send_ms + jitterMs : null;
    return { framesDecoded, fps, latencyMs, labels };
  }

  async function renderStats() {
    const s = await stats();
    $("fps").textContent = `${server.frames_in || 0} frames in / ${s.fps.toFixed(1)} fps shown`;
    $("send-latency").textContent = server.capture_to_send_ms !== undefined ? `${server.capture_to_send_ms.toFixed(0)} ms` : "-";
    $("latency").textContent = s.latencyMs !== null ? `${s.latencyMs.toFixed(0)} ms` : "-";
    $("decoded").textContent = s.framesDecoded;
    $("dropped").textContent = server.frames_dropped ?? "-";
    $("stages").textContent = Object.entries(server.stages || {}).map(([k, v]) => `${k} ${v.p95.toFixed(0)} ms`).join(", ") || "-";
    $("decisions").textContent = Object.entries(server.decisions || {}).map(([k, v]) => `${k} ${v}`).join(", ") || "-";
    $("labels").textContent = s.labels.map((l) => `${l.label} ${(l.score * 100).toFixed(0)}%`).join(", ") || "-";
  }

  $("start").onclick = start;
  $("stop").onclick = stop;
  $("style").onchange = () => send({ type: "style", name: $("style").value });
  $("budget").onchange = () => send({ type: "budget", ms: Number($("budget").value) });
  openSocket().catch((err) => showError(err.message)); // fetch the style list before Start
})();
