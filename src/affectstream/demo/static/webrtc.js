// The webcam tab's WebRTC path: the camera goes to the server as a video track, each result
// comes back on a data channel and is drawn over the browser's own view of the camera.
// Where WebRTC cannot run, the page falls back to posting JPEG frames (the #jpeg-path block)
// and says so. window.__affectProbe (set by tests and benchmarks) records per-frame timings.
(function () {
  "use strict";
  const SETTINGS = "#rtc-settings textarea, #rtc-settings input";
  const CONNECT_MS = 15000;  // no result by then: fall back

  function mount(root, server) {
    root.innerHTML = `
      <div class="affect-rtc">
        <div class="affect-path">Path: WebRTC video stream (not started)</div>
        <div class="affect-stage">
          <video autoplay muted playsinline></video><canvas class="affect-overlay"></canvas>
        </div>
        <div class="affect-controls">
          <button id="rtc-start" class="lg primary">Start camera</button>
          <button id="rtc-stop" class="lg secondary">Stop</button>
          <button id="rtc-reset" class="lg secondary">Reset</button>
          <span class="affect-status" id="rtc-status"></span>
        </div>
        <div class="affect-plots" id="rtc-plots"></div>
      </div>`;
    const $ = (s) => root.querySelector(s);
    const state = {pc: null, channel: null, stream: null, view: null, shown: [], timer: null,
                   settings: null};
    if (window.AffectView) state.view = new window.AffectView($("#rtc-plots"));
    $("#rtc-start").onclick = () => start(root, server, state).catch((e) => {
      if (!state.stopped) fallback(root, state, String(e));  // Stop pressed meanwhile: no fallback
    });
    $("#rtc-stop").onclick = () => stop(state, root, "stopped");
    $("#rtc-reset").onclick = () => send(state, {type: "reset"});
    if (!window.RTCPeerConnection) fallback(root, state, "this browser has no WebRTC");
    window.addEventListener("pagehide", () => stop(state, root, "closed"));
  }

  function settings() {
    const field = document.querySelector(SETTINGS);
    try { return field ? JSON.parse(field.value || "{}") : {}; } catch (e) { return {}; }
  }

  function send(state, message) {
    if (state.channel && state.channel.readyState === "open") {
      state.channel.send(JSON.stringify(message));
    }
  }

  async function start(root, server, state) {
    const $ = (s) => root.querySelector(s);
    if (state.pc || state.starting) return;  // a second click while the first one connects
    state.starting = true; state.stopped = false;
    try { await connect(root, server, state, $); } finally { state.starting = false; }
  }

  async function connect(root, server, state, $) {
    const probe = window.__affectProbe;
    state.stream = await navigator.mediaDevices.getUserMedia(
      {video: {width: {ideal: 640}, height: {ideal: 360}}, audio: false});
    if (state.stopped) { stop(state, root, "stopped"); return; }
    const video = $("video");
    video.srcObject = state.stream;
    const config = probe && window.RTCRtpSender && RTCRtpSender.prototype.createEncodedStreams
      ? {encodedInsertableStreams: true} : {};
    const pc = state.pc = new RTCPeerConnection(config);
    // unordered and never retransmitted: a late result is worth less than the next one
    const channel = state.channel = pc.createDataChannel("affect", {ordered: false,
                                                                     maxRetransmits: 0});
    channel.onmessage = (event) => show(root, state, JSON.parse(event.data));
    channel.onopen = () => { state.settings = JSON.stringify(settings());
                             send(state, {type: "settings", ...settings()}); };
    const sender = pc.addTrack(state.stream.getVideoTracks()[0], state.stream);
    if (probe) watch(video, sender, config, probe);
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((done) => {  // every candidate in the offer: the server does not trickle
      if (pc.iceGatheringState === "complete") return done();
      pc.addEventListener("icegatheringstatechange",
                          () => pc.iceGatheringState === "complete" && done());
      setTimeout(done, 3000);
    });
    const answer = await server.webrtc_offer({sdp: pc.localDescription.sdp,
                                              type: pc.localDescription.type,
                                              settings: settings()});
    if (state.stopped) return;
    if (!answer || answer.error) throw new Error(answer ? answer.error : "no answer");
    await pc.setRemoteDescription(answer);
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "failed") fallback(root, state, "the connection failed");
    });
    $(".affect-path").textContent = "Path: WebRTC video stream (connecting…)";
    state.timer = setTimeout(() => {
      if (!state.shown.length) fallback(root, state, "no result within 15 s");
    }, CONNECT_MS);
    state.poll = setInterval(() => {  // the settings panel changed: a new pipeline
      const now = JSON.stringify(settings());
      if (now !== state.settings) { state.settings = now; send(state, {type: "settings", ...settings()}); }
    }, 500);
  }

  // Probe: when each frame entered the encoder (by RTP timestamp) and when the camera captured
  // each frame shown in the preview, on performance.now()'s clock.
  function watch(video, sender, config, probe) {
    probe.encoded = []; probe.captured = []; probe.shown = []; probe.path = "webrtc";
    if ("requestVideoFrameCallback" in video) {
      const each = (now, meta) => {
        if (meta.captureTime) probe.captured.push(meta.captureTime);
        video.requestVideoFrameCallback(each);
      };
      video.requestVideoFrameCallback(each);
    }
    if (!config.encodedInsertableStreams) return;
    const {readable, writable} = sender.createEncodedStreams();
    readable.pipeThrough(new TransformStream({transform(frame, out) {
      probe.encoded.push([performance.now(), frame.getMetadata().rtpTimestamp]);
      out.enqueue(frame);
    }})).pipeTo(writable);
  }

  function show(root, state, message) {
    if (message.type === "error") {
      if (message.fatal) return fallback(root, state, message.error);
      root.querySelector("#rtc-status").textContent = message.error;
      return;
    }
    if (message.type !== "affect") return;
    const video = root.querySelector("video"), canvas = root.querySelector("canvas");
    const width = video.clientWidth, height = video.clientHeight;
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width; canvas.height = height;
    }
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, width, height);
    if (window.AffectView) {
      window.AffectView.drawFaces(ctx, message, width / message.width, height / message.height);
    }
    if (state.view) {
      if (!state.shown.length) state.view.status("WebRTC data channel");  // not "waiting"
      state.view.add(message);
    }
    const now = performance.now();
    state.shown.push(now);
    while (state.shown.length && state.shown[0] < now - 2000) state.shown.shift();
    const rate = state.shown.length / 2;
    root.querySelector(".affect-path").textContent = "Path: WebRTC video stream";
    root.querySelector("#rtc-status").textContent =
      `${message.faces.filter((f) => f.detected).length} face(s) · frame ${message.frame} · ` +
      `${rate.toFixed(1)} results/s · ${message.server_ms.toFixed(0)} ms on the server · ` +
      `${message.dropped} stale frames skipped`;
    const probe = window.__affectProbe;
    if (probe) requestAnimationFrame((painted) => probe.shown.push([painted, message.pts,
                                                                    message.frame, message.rtp]));
  }

  function stop(state, root, why) {
    state.stopped = why === "stopped";
    clearTimeout(state.timer); clearInterval(state.poll);
    if (state.pc) state.pc.close();
    if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
    state.pc = state.channel = state.stream = null;
    const path = root.querySelector(".affect-path");
    if (path && why === "stopped") path.textContent = "Path: WebRTC video stream (stopped)";
  }

  // Today's path: Gradio's webcam component posting JPEG frames.
  function fallback(root, state, reason) {
    stop(state, root, "fallback");
    root.querySelector(".affect-stage").style.display = "none";
    root.querySelector(".affect-controls").style.display = "none";
    root.querySelector(".affect-path").textContent =
      `Path: JPEG frames over HTTP (WebRTC not available: ${reason})`;
    const jpeg = document.querySelector("#jpeg-path");
    if (jpeg) jpeg.classList.remove("affect-hidden");
    if (window.__affectProbe) window.__affectProbe.path = "jpeg";
  }

  window.AffectWebRTC = {mount};
})();
