"""The 68 iBUG-300W / OpenFace landmarks as a subset of MediaPipe's 478-point face mesh.

Where the correspondence comes from: the one in wide use with MediaPipe (e.g. ByteDance's
LatentSync 1.5), checked two ways and changed where it was off: OpenFace's own 68 points (its
reference output in shared/media/reference, aligned onto MediaPipe's canonical face and onto
MediaPipe meshes of frontal faces) and the 68 points drawn numbered on real faces
(docs/landmarks68_*.png, tools/draw_landmarks68.py). Changes: the jaw now starts at eye level
(127/356, where iBUG puts 0 and 16, not the temples' 162/389) and its points are spaced along
MediaPipe's face oval at the heights OpenFace's jaw points have; the brows' outer ends are 70/300
(symmetric, on the brow's upper edge, not 71/301); nose point 29 is 195, halfway from 168 to the
tip 4 as iBUG spaces 27-30; the nose base 31-35 runs along the nostrils' lower edge (98, 97, 2,
326, 327). Eyes, mouth and the other brow points are unchanged.

Known limits: MediaPipe's points are fixed places on the face surface, iBUG's jaw is the visible
outline. For frontal faces the two agree; as a head turns, the far side's jaw points stay on the
cheek while iBUG's would follow the silhouette. iBUG's 0/16 sit a little above the eye corners'
height, MediaPipe's nearest oval points at it. MediaPipe's brow points trace the brow's upper edge,
where iBUG annotators click on the brow itself. With the mouth closed the inner lip points of
both coincide pairwise (61/67, 62/66, 63/65), as in iBUG.
"""
from __future__ import annotations

import numpy as np

# iBUG-300W's 68 points, in its order, as MediaPipe mesh indices.
MESH_TO_68: tuple[int, ...] = (
    127, 234, 93, 132, 58, 172, 150, 176, 152, 400, 379, 397, 288, 361, 323, 454, 356,  # jaw
    70, 63, 105, 66, 107,  # brow, image left
    336, 296, 334, 293, 300,  # brow, image right
    168, 197, 195, 4,  # nose bridge
    98, 97, 2, 326, 327,  # nostrils
    33, 160, 158, 133, 153, 144,  # eye, image left (the person's right)
    362, 385, 387, 263, 373, 380,  # eye, image right
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,  # outer lips
    78, 82, 13, 312, 308, 317, 14, 87,  # inner lips
)


def to_68(points: np.ndarray) -> np.ndarray:
    """(68, k) rows of `points` (478, k) (any k, any units) in iBUG's order."""
    return np.asarray(points)[list(MESH_TO_68)]
