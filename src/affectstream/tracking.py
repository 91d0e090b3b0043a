"""Track identity: which face in this frame is which face of the frames before.

What a `face_id` (track id) promises: one id per person while the person stays in view with gaps
of at most `max_gap` seconds; two faces visible in the same frame never share an id, and one face
never gets two ids in one frame. It is not re-identification: a face that leaves for longer than
`max_gap` (or a cut in the video) comes back with a new id.
"""
from __future__ import annotations

import math

from .geometry import box_iou

Box = tuple[float, float, float, float]
SAME_FACE_IOU = 0.3  # two readings overlapping this much are one face (readings of one face: 0.4+)


def _near(box: Box, old: Box) -> bool:
    """The centre of `box` lies within half a face of `old`'s centre (a fast-moving face)."""
    centre = math.dist((box[0] + box[2] / 2, box[1] + box[3] / 2),
                       (old[0] + old[2] / 2, old[1] + old[3] / 2))
    return centre < 0.5 * max(old[2], old[3])


def suppress_duplicates(boxes: list[Box]) -> list[int]:
    """Indices of the boxes to keep, in order: a box overlapping an earlier kept one is the same
    face read twice (the tracker's box and a fresh detection) and is dropped."""
    kept: list[int] = []
    for j, box in enumerate(boxes):
        if all(box_iou(box, boxes[k]) <= SAME_FACE_IOU for k in kept):
            kept.append(j)
    return kept


def match_scores(boxes: list[Box], *detections: list[tuple[Box, float]]) -> list[float | None]:
    """Each face's own detector score: detections are matched one to one, best overlap first, the
    first list before the next (the whole frame's detector before crops'); a face no detection
    overlaps (IoU ≥ 0.3) gets None."""
    scores: list[float | None] = [None] * len(boxes)
    for group in detections:
        pairs = sorted(((box_iou(b, d), j, k) for j, b in enumerate(boxes) if scores[j] is None
                        for k, (d, _) in enumerate(group)), reverse=True)
        used = set()
        for iou, j, k in pairs:
            if iou < SAME_FACE_IOU:
                break
            if scores[j] is None and k not in used:
                scores[j] = float(group[k][1])
                used.add(k)
    return scores


class TrackAssigner:
    """Stable ids: greedy matching by box overlap (then centroid distance) to faces seen recently.

    A new face is born from one confident detection (`accept_new(j)` true) or from two sightings in
    consecutive frames. A confident one waits for its second sighting too while a known track is
    missed in the same frame: a face that jumps (a mirrored or damaged frame) must not get a
    second id. A box overlapping a track already matched in this frame is a duplicate reading of
    that face and gets no id. A track unseen for more than `max_gap` seconds is forgotten.

    A track missed in a frame is still *held* (its estimate carried, see `held`) for as long as the
    evidence for it lasted, at most `max_gap`: a face seen for two frames is not carried for a
    second.
    """

    def __init__(self, max_gap: float = 1.0, min_iou: float = 0.2):
        self.max_gap, self.min_iou = max_gap, min_iou
        self.tracks: dict[int, tuple[Box, float]] = {}  # id -> (last box, last seen)
        self.born: dict[int, float] = {}
        self.pending: list[Box] = []
        self.next_id = 0
        self.now = float("-inf")

    def live(self, timestamp: float) -> dict[int, Box]:
        """The last box of every track not yet forgotten at `timestamp`."""
        return {i: box for i, (box, seen) in self.tracks.items()
                if timestamp - seen <= self.max_gap}

    def uncovered(self, boxes: list[Box], timestamp: float) -> list[Box]:
        """Where to look again: live tracks and unconfirmed faces that none of `boxes` covers."""
        wanted = list(self.live(timestamp).values()) + list(self.pending)
        return [w for w in wanted if not any(box_iou(b, w) >= self.min_iou or _near(b, w)
                                             for b in boxes)]

    def assign(self, boxes: list, timestamp: float, accept_new=None) -> list[int | None]:
        """One id per box, in the order given; None for a duplicate or a face not yet
        confirmed."""
        self.tracks = {i: v for i, v in self.tracks.items() if timestamp - v[1] <= self.max_gap}
        self.born = {i: t for i, t in self.born.items() if i in self.tracks}
        self.now = timestamp
        ids = self._match(boxes)
        pending, self.pending = self.pending, []
        matched = [boxes[j] for j, i in enumerate(ids) if i is not None]
        a_track_missed = len(matched) < len(self.tracks)
        for j, box in enumerate(boxes):
            if ids[j] is None:
                if any(box_iou(box, m) >= SAME_FACE_IOU for m in matched):
                    continue  # a second reading of a face that already has its id
                seen_before = any(box_iou(box, p) >= self.min_iou for p in pending)
                confident = accept_new is None or (accept_new(j) and not a_track_missed)
                if not (confident or seen_before):
                    self.pending.append(tuple(box))  # a second sighting next frame confirms it
                    continue
                ids[j], self.next_id = self.next_id, self.next_id + 1
                self.born[ids[j]] = timestamp
            self.tracks[ids[j]] = (tuple(box), timestamp)
        return ids

    def held(self) -> set[int]:
        """The tracks to carry in the latest frame: seen in it, or missed for no longer than they
        had been seen before."""
        return {i for i, (_, seen) in self.tracks.items()
                if self.now - seen <= min(self.max_gap, seen - self.born[i])}

    def _match(self, boxes: list) -> list[int | None]:
        """Known tracks for the boxes, best overlap first, each track to at most one box."""
        pairs = []
        for j, box in enumerate(boxes):
            for tid, (old, _) in self.tracks.items():
                iou, near = box_iou(box, old), _near(box, old)
                if iou >= self.min_iou or near:
                    pairs.append((iou + (0.01 if near else 0.0), j, tid))
        ids: list[int | None] = [None] * len(boxes)
        used = set()
        for _, j, tid in sorted(pairs, reverse=True):
            if ids[j] is None and tid not in used:
                ids[j] = tid
                used.add(tid)
        return ids

    def reset(self) -> None:
        """Forget every track; ids start again at 0."""
        self.tracks.clear()
        self.born.clear()
        self.pending.clear()
        self.next_id = 0
        self.now = float("-inf")
