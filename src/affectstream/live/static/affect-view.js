// AffectView: live plots of affectstream's frame messages (live/records.py), no framework.
// A plain script (not a module) so any page can load it:
//   const view = new AffectView(root);      // builds its canvases inside root
//   view.add(message);                       // one {"type": "affect", ...} message per frame
//   AffectView.connect(view, "ws://host/ws") // or feed it from a WebRTC data channel yourself
//   AffectView.drawFaces(ctx, message, sx, sy) // boxes and labels on a video overlay
// With several faces the plots follow the lowest face_id.
(function () {
  "use strict";

  var WINDOW_S = 10;        // timeline span
  var TRAIL_S = 3;          // circumplex trail span
  var RATE_S = 2;           // messages/s is counted over this span
  var VALENCE = "#1f77b4", AROUSAL = "#e6550d", INK = "#333", GRID = "#ddd";

  function element(tag, parent, className) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    parent.appendChild(e);
    return e;
  }

  // A canvas of w×h CSS pixels, sharp on high-density screens; returns its 2D context.
  function canvas(parent, w, h, title) {
    var c = element("canvas", parent, "av-plot");
    var ratio = window.devicePixelRatio || 1;
    c.width = w * ratio; c.height = h * ratio;
    c.style.width = w + "px"; c.style.height = h + "px";
    c.title = title;
    var ctx = c.getContext("2d");
    ctx.scale(ratio, ratio);
    ctx.w = w; ctx.h = h;
    return ctx;
  }

  function signed(x) { return (x >= 0 ? "+" : "\u2212") + Math.abs(x).toFixed(2); }

  function percentile(values, p) {
    if (!values.length) return NaN;
    var sorted = values.slice().sort(function (a, b) { return a - b; });
    return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  }

  // The face the plots follow: the lowest face_id with a valence.
  function mainFace(message) {
    var best = null;
    (message.faces || []).forEach(function (f) {
      if (f.valence !== null && (best === null || f.face_id < best.face_id)) best = f;
    });
    return best;
  }

  function AffectView(root) {
    this.root = root;
    root.classList.add("affect-view");
    this.statusLine = element("div", root, "av-status");
    var row = element("div", root, "av-row");
    this.circle = canvas(row, 240, 240, "valence (x) and arousal (y), last " + TRAIL_S + " s");
    this.timeline = canvas(row, 460, 240, "valence and arousal, last " + WINDOW_S + " s");
    row = element("div", root, "av-row");
    this.bars = canvas(row, 460, 240, "action unit intensities (0\u20135)");
    this.emotions = canvas(row, 240, 240, "top emotions");
    this.points = [];     // {t, v, a}, v and a null for a frame without the face
    this.arrivals = [];   // receipt times (ms), for messages/s
    this.delays = [];     // capture→received (ms), last RATE_S seconds
    this.latest = null;   // the last message
    this.face = null;     // its main face
    this.state = "waiting";
    this.pending = false;
    this.render();
  }

  AffectView.prototype.status = function (state) {
    this.state = state;
    this.schedule();
  };

  AffectView.prototype.add = function (message) {
    if (!message || message.type !== "affect") return;
    var now = Date.now();
    var t = message.captured ? message.captured * 1000 : now;
    this.arrivals.push(now);
    if (message.captured) this.delays.push({at: now, ms: now - message.captured * 1000});
    var face = mainFace(message);
    this.points.push({t: t, v: face ? face.valence : null, a: face ? face.arousal : null});
    while (this.points.length && this.points[0].t < t - WINDOW_S * 1000) this.points.shift();
    while (this.arrivals.length && this.arrivals[0] < now - RATE_S * 1000) this.arrivals.shift();
    while (this.delays.length && this.delays[0].at < now - RATE_S * 1000) this.delays.shift();
    this.latest = message;
    this.face = face;
    this.schedule();
  };

  // One redraw per animation frame, however many messages came in between.
  AffectView.prototype.schedule = function () {
    if (this.pending) return;
    this.pending = true;
    var self = this;
    window.requestAnimationFrame(function () { self.pending = false; self.render(); });
  };

  AffectView.prototype.render = function () {
    this.drawStatus();
    this.drawCircle();
    this.drawTimeline();
    this.drawBars();
    this.drawEmotions();
  };

  AffectView.prototype.drawStatus = function () {
    var parts = [this.state];
    if (this.latest) {
      var span = Math.max(1, Date.now() - (this.arrivals[0] || Date.now())) / 1000;
      parts.push((this.arrivals.length > 1 ? (this.arrivals.length - 1) / span : 0)
        .toFixed(1) + " msg/s");
      var ms = this.delays.map(function (d) { return d.ms; });
      if (ms.length) parts.push("capture\u2192received " + percentile(ms, 0.5).toFixed(0) +
        " ms (p95 " + percentile(ms, 0.95).toFixed(0) + ")");
      parts.push("frame " + this.latest.frame);
      parts.push(this.face ? "face " + this.face.face_id + " of " + this.latest.faces.length
        : "no face");
    }
    this.statusLine.textContent = parts.join(" \u00b7 ");
  };

  AffectView.prototype.drawCircle = function () {
    var ctx = this.circle, r = ctx.w / 2 - 18, cx = ctx.w / 2, cy = ctx.h / 2;
    ctx.clearRect(0, 0, ctx.w, ctx.h);
    ctx.strokeStyle = GRID; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.arc(cx, cy, r, 0, 2 * Math.PI);
    ctx.moveTo(cx - r, cy); ctx.lineTo(cx + r, cy); ctx.moveTo(cx, cy - r); ctx.lineTo(cx, cy + r);
    ctx.stroke();
    ctx.fillStyle = INK; ctx.font = "11px sans-serif"; ctx.textAlign = "center";
    ctx.fillText("arousal +", cx, 11); ctx.fillText("\u2212", cx, ctx.h - 3);
    ctx.textAlign = "left"; ctx.fillText("\u2212", 3, cy + 14);
    ctx.textAlign = "right"; ctx.fillText("valence +", ctx.w - 2, cy + 14);
    var last = this.points.length ? this.points[this.points.length - 1].t : 0;
    var trail = this.points.filter(function (p) { return p.v !== null && p.t > last - TRAIL_S * 1e3; });
    trail.forEach(function (p, i) {
      ctx.globalAlpha = 0.15 + 0.85 * (i + 1) / trail.length;
      ctx.fillStyle = i === trail.length - 1 ? "#c00" : "#888";
      ctx.beginPath();
      ctx.arc(cx + p.v * r, cy - p.a * r, i === trail.length - 1 ? 6 : 2.5, 0, 2 * Math.PI);
      ctx.fill();
    });
    ctx.globalAlpha = 1;
  };

  AffectView.prototype.drawTimeline = function () {
    var ctx = this.timeline, left = 28, w = ctx.w - left - 6, h = ctx.h - 24, top = 6;
    ctx.clearRect(0, 0, ctx.w, ctx.h);
    var y = function (value) { return top + (1 - value) / 2 * h; };
    ctx.strokeStyle = GRID; ctx.fillStyle = INK; ctx.font = "11px sans-serif";
    ctx.textAlign = "right";
    [-1, 0, 1].forEach(function (v) {
      ctx.beginPath(); ctx.moveTo(left, y(v)); ctx.lineTo(left + w, y(v)); ctx.stroke();
      ctx.fillText(String(v), left - 4, y(v) + 4);
    });
    ctx.textAlign = "left";
    ctx.fillText("\u2212" + WINDOW_S + " s", left, ctx.h - 4);
    ctx.fillStyle = VALENCE; ctx.fillText("valence", left + 60, ctx.h - 4);
    ctx.fillStyle = AROUSAL; ctx.fillText("arousal", left + 120, ctx.h - 4);
    if (!this.points.length) return;
    var end = this.points[this.points.length - 1].t, points = this.points;
    var x = function (t) { return left + w * (1 - (end - t) / (WINDOW_S * 1000)); };
    [["v", VALENCE], ["a", AROUSAL]].forEach(function (series) {
      ctx.strokeStyle = series[1]; ctx.lineWidth = 2; ctx.beginPath();
      var drawing = false;
      points.forEach(function (p) {
        var value = p[series[0]];
        if (value === null) { drawing = false; return; }  // a gap where the face was not seen
        if (drawing) ctx.lineTo(x(p.t), y(value)); else ctx.moveTo(x(p.t), y(value));
        drawing = true;
      });
      ctx.stroke();
    });
    ctx.lineWidth = 1;
  };

  AffectView.prototype.drawBars = function () {
    var ctx = this.bars, au = this.face ? this.face.au || {} : {}, names = Object.keys(au);
    ctx.clearRect(0, 0, ctx.w, ctx.h);
    ctx.font = "10px sans-serif"; ctx.textAlign = "center";
    if (!names.length) {
      ctx.fillStyle = INK; ctx.fillText("action units: no face", ctx.w / 2, ctx.h / 2);
      return;
    }
    var slot = ctx.w / names.length, base = ctx.h - 16, height = base - 22;
    ctx.fillStyle = INK; ctx.textAlign = "left";
    ctx.fillText("action units, intensity 0\u20135", 4, 12);
    ctx.textAlign = "center";
    names.forEach(function (name, i) {
      var value = au[name] === null ? 0 : Math.max(0, Math.min(5, au[name]));
      ctx.fillStyle = "#6a9fd1";
      ctx.fillRect(i * slot + 3, base - height * value / 5, slot - 6, height * value / 5);
      ctx.fillStyle = INK;
      ctx.fillText(name.replace("AU", ""), i * slot + slot / 2, ctx.h - 4);
    });
    ctx.strokeStyle = GRID; ctx.beginPath(); ctx.moveTo(0, base); ctx.lineTo(ctx.w, base);
    ctx.stroke();
  };

  AffectView.prototype.drawEmotions = function () {
    var ctx = this.emotions, emotion = this.face ? this.face.emotion || {} : {};
    ctx.clearRect(0, 0, ctx.w, ctx.h);
    ctx.font = "13px sans-serif"; ctx.textAlign = "left";
    var top = Object.keys(emotion).filter(function (k) { return emotion[k] !== null; })
      .sort(function (a, b) { return emotion[b] - emotion[a]; }).slice(0, 4);
    if (!top.length) {
      ctx.fillStyle = INK; ctx.fillText("emotions: none", 8, ctx.h / 2);
      return;
    }
    top.forEach(function (name, i) {
      var y = 14 + i * 56, p = emotion[name];
      ctx.fillStyle = "#eee"; ctx.fillRect(8, y + 18, ctx.w - 16, 14);
      ctx.fillStyle = i === 0 ? "#c00" : "#999"; ctx.fillRect(8, y + 18, (ctx.w - 16) * p, 14);
      ctx.fillStyle = INK; ctx.fillText(name + "  " + (100 * p).toFixed(0) + " %", 8, y + 12);
    });
  };

  // Each face's box, id, valence/arousal and top emotion on `ctx` (not cleared first); box
  // coordinates (pixels of the frame) are multiplied by scaleX, scaleY.
  AffectView.drawFaces = function (ctx, message, scaleX, scaleY) {
    ctx.save();
    ctx.lineWidth = 2; ctx.font = "bold 13px sans-serif"; ctx.textAlign = "left";
    ((message && message.faces) || []).forEach(function (f) {
      if (!f.box) return;  // a held estimate: the detector missed the face in this frame
      var x = f.box[0] * scaleX, y = f.box[1] * scaleY, w = f.box[2] * scaleX, h = f.box[3] * scaleY;
      ctx.strokeStyle = "#0f0"; ctx.strokeRect(x, y, w, h);
      var label = "#" + f.face_id;
      if (f.valence !== null) label += " V" + signed(f.valence) + " A" + signed(f.arousal);
      if (f.top_emotion) label += " " + f.top_emotion;
      var width = ctx.measureText(label).width + 8, ty = y > 20 ? y - 20 : y + h;
      ctx.fillStyle = "rgba(0, 0, 0, 0.6)"; ctx.fillRect(x, ty, width, 19);
      ctx.fillStyle = "#fff"; ctx.fillText(label, x + 4, ty + 14);
    });
    ctx.restore();
  };

  // Feed `view` from the WebSocket at `url`, reconnecting with backoff (0.5 s doubling to 8 s).
  AffectView.connect = function (view, url) {
    var wait = 500, socket = null;
    function open() {
      view.status("connecting to " + url);
      socket = new WebSocket(url);
      socket.onopen = function () { wait = 500; view.status("connected"); };
      socket.onmessage = function (event) {
        var message;
        try { message = JSON.parse(event.data); } catch (e) { return; }
        if (message.type === "hello") view.status("connected to " + (message.source || url));
        else view.add(message);
      };
      socket.onclose = function () {
        view.status("disconnected; retrying in " + (wait / 1000).toFixed(1) + " s");
        setTimeout(open, wait);
        wait = Math.min(8000, wait * 2);
      };
    }
    open();
    return function () { return socket; };
  };

  window.AffectView = AffectView;
})();
