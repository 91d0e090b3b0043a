"""How the temporal models trade steadiness for speed of response, against the per-frame model.

    python benchmarks/temporal_response.py [--video WolfgangLanger_Pexels.mp4]

1. Steadiness: on a talking-face video, the mean absolute frame-to-frame change of valence and
   arousal of the main face (consecutive frames both detected) and how many times a minute its
   top emotion changes, per model, and their ratios to the per-frame model's.
2. Response: a synthetic step — a neutral face held for 2 s, then cut to a smiling face held for
   2 s, both FER+ validation stills placed at the same spot of a 640×360 frame at 30 fps — run
   frame by frame through the live API. Frames after the cut until the estimate covers 90 % of
   the change (from the mean of the last 10 frames before the cut to the mean of the last 15).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from affectstream import registry
from affectstream.options import NO_TEMPORAL
from affectstream.train.temporal.data import SEQUENCE_FPS as FPS
from affectstream.train.temporal.response import response, steadiness, step_frames, step_stills

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AFFECTSTREAM_SHARED", ROOT.parent / "shared"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", type=Path,
                   default=SHARED / "media" / "video" / "WolfgangLanger_Pexels.mp4")
    args = p.parse_args(argv)
    if not args.video.is_file():
        print(f"no video at {args.video}; set AFFECTSTREAM_SHARED or pass --video", file=sys.stderr)
        return 1
    print(f"steadiness on {args.video.name}: mean |Δ| between consecutive frames of the main "
          "face, and top-emotion changes per minute")
    base = None
    for temporal in (NO_TEMPORAL, *registry.names("temporal")):
        s = steadiness(args.video, temporal)
        base = base or s
        cells = "  ".join(f"{k} {s[k]:.4f} ({s[k] / base[k]:.2f}× per-frame)"
                          for k in ("valence", "arousal"))
        flips = s["emotion_changes_per_minute"]
        print(f"  {temporal:10s} {cells}  top emotion {flips:.1f}/min "
              f"({flips / base['emotion_changes_per_minute']:.2f}× per-frame)  "
              f"[{s['pairs']} pairs]")
    cut = 2 * FPS
    frames = step_frames(*step_stills(SHARED / "data" / "ferplus"))
    print(f"step response, live: neutral → smiling FER+ still at frame {cut} of {len(frames)} "
          f"({FPS} fps); frames after the cut to 90 % of the change")
    for temporal in (NO_TEMPORAL, *registry.names("temporal")):
        r = response(frames, temporal, cut)
        cells = "  ".join(f"{k} {r[k][0]:+.3f} → {r[k][1]:+.3f} in {r[k][2]} frames"
                          for k in ("valence", "arousal"))
        print(f"  {temporal:10s} {cells}  [{r['detected']}/{len(frames)} frames with a face, "
              f"{r['tracks']} track(s)]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
