"""Capture→shown latency and results per second from the page's probe (static/webrtc.js).

The probe records, on the page's performance.now() clock: `captured`, the camera's capture time
of each frame the preview showed (requestVideoFrameCallback's captureTime); `encoded`, [time,
RTP timestamp] as each frame entered the encoder; `shown`, [paint time, pts, frame] for each
result drawn, where pts is the server's RTP timestamp counted from the first frame it received.

Chrome derives a frame's RTP timestamp from its capture time (90 kHz), so RTP/90 − capture time
is one constant per stream. It is found as the most common difference between each encoded
frame's RTP time and the newest capture before its encoding; each result's capture time follows.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

RTP_PER_MS = 90.0


def browser_latency(probe: dict, since: float | None = None) -> dict:
    """{"results", "seconds", "per_second", "capture_p50", "capture_p95", "encoded_p50",
    "encoded_p95"} (ms) of the results shown after `since` (performance.now() ms)."""
    encoded = np.asarray(probe["encoded"], np.float64).reshape(-1, 2)
    captured = np.asarray(probe["captured"], np.float64)
    first = encoded[0, 1] if len(encoded) else 0.0
    # each result's RTP time counted from the first frame sent: its raw RTP when the server gave
    # it, else its pts (counted from the first frame decoded, assumed the first sent)
    shown = np.asarray([(s[0], s[1] if len(s) < 4 or s[3] is None else (s[3] - first) % 2**32)
                        for s in probe["shown"] if since is None or s[0] >= since],
                       np.float64).reshape(-1, 2)
    if len(shown) < 2 or not len(encoded):
        raise ValueError("the probe holds too few results to time")
    rtp = (encoded[:, 1] - first) % 2**32  # the same count (across a wrap too)
    votes = Counter()
    for when, ticks in zip(encoded[:, 0], rtp):
        before = captured[captured <= when]
        if len(before):
            votes[round(ticks / RTP_PER_MS - before.max())] += 1
    offset = votes.most_common(1)[0][0] if votes else None
    encoded_at = dict(zip(rtp, encoded[:, 0]))
    from_encoder = [t - encoded_at[pts] for t, pts in shown if pts in encoded_at]
    if not from_encoder:
        raise ValueError("no result matches a frame the page encoded: the RTP counts disagree")
    seconds = (shown[-1, 0] - shown[0, 0]) / 1000.0
    figures = {"results": len(shown), "seconds": seconds,
               "per_second": (len(shown) - 1) / seconds if seconds > 0 else 0.0,
               "encoded_p50": float(np.percentile(from_encoder, 50)),
               "encoded_p95": float(np.percentile(from_encoder, 95))}
    if offset is not None:
        from_capture = shown[:, 0] - (shown[:, 1] / RTP_PER_MS - offset)
        figures.update(capture_p50=float(np.percentile(from_capture, 50)),
                       capture_p95=float(np.percentile(from_capture, 95)))
    return figures
