// OBS Browser Source overlay: the current labels, a diffusion style's prompt (and fps) over a
// transparent page.
// Add ?fps=0 to hide the frame rate. It subscribes to the server's events on /ws: a server
// with its own source (serve --source ...) reports its broadcast by itself, with or without
// viewers; otherwise the overlay shows what the sessions of camera pages report.
// Labels are <span class="label"> inside #labels, the prompt is #prompt: style them in OBS.
"use strict";

(() => {
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  const showFps = params.get("fps") !== "0";
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws` +
    (token ? `?token=${encodeURIComponent(token)}` : "");
  let last = { frames: 0, t: performance.now() };

  function render(msg) {
    if (msg.type === "labels") {
      const box = document.getElementById("labels");
      box.innerHTML = "";
      for (const l of msg.labels || []) {
        const span = document.createElement("span");
        span.className = "label";
        span.textContent = `${l.label} ${(100 * l.score).toFixed(0)}%`;
        box.appendChild(span);
      }
    } else if (msg.type === "hello" && msg.diffusion) {
      document.getElementById("prompt").textContent = msg.diffusion.prompt || "";
    } else if (msg.type === "prompt") {
      document.getElementById("prompt").textContent = msg.prompt || "";
    } else if (msg.type === "metrics" && msg.diffusion) {
      document.getElementById("prompt").textContent = msg.diffusion.prompt || "";
    }
    if (msg.type === "metrics" && showFps) {
      const now = performance.now();
      const fps = (msg.frames_out - last.frames) / Math.max(1e-3, (now - last.t) / 1000);
      last = { frames: msg.frames_out, t: now };
      document.getElementById("fps").textContent = `${fps.toFixed(0)} fps`;
    }
  }

  function connect() {
    const ws = new WebSocket(url);
    ws.onopen = () => ws.send(JSON.stringify({ type: "subscribe" }));
    ws.onmessage = (event) => render(JSON.parse(event.data));
    ws.onclose = () => setTimeout(connect, 2000); // OBS keeps the page open: reconnect
  }
  connect();
})();
