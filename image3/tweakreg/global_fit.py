"""One least-squares solution for many exposure groups over all their pairwise overlaps.

Conventions: every position lives in one common tangent plane, in arcsec (tweakwcs' tangent plane
of one exposure's corrected V2/V3 frame). Group ``g``'s correction moves a point ``x`` of any of its
exposures to ``x + t + L (x - c_g)``, with ``c_g`` the mean position of the group's sources (so the
shift ``t`` is the motion at the group's centre and barely correlates with ``L``) and ``L`` by fit
geometry: ``shift`` none; ``rshift`` ``[[0, -w], [w, 0]]`` (``w`` a small rotation in radians);
``rscale`` ``[[a, -w], [w, a]]``; ``general`` any 2 x 2 matrix. A matched pair of sources of
groups ``a`` and ``b`` gives the equation ``x_a + t_a + L_a (x_a - c_a) = x_b + t_b + L_b (x_b - c_b)``;
all pairs of all overlaps are solved at once with each connected set's reference group held fixed,
so a chain of small overlaps does not pile up the errors of one-by-one fits.
"""

import logging
from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from tweakwcs.matchutils import MatchSourceConfusionError

__all__ = [
    "connected_sets",
    "inside",
    "linear_part",
    "match_pairs",
    "PairMatch",
    "PlaneCatalog",
    "Solution",
    "solve",
]

log = logging.getLogger("image3")

N_PARAMS = {"shift": 2, "rshift": 3, "rscale": 4, "general": 6}


@dataclass
class PlaneCatalog:
    """One exposure's sources and chip outline in the common plane (arcsec)."""

    name: str
    group: int
    xy: np.ndarray  # (n, 2)
    corners: np.ndarray  # (4, 2), the chip's outer pixel edges in order around the chip


@dataclass
class PairMatch:
    """Matched sources of exposures ``a`` and ``b`` (indices into the catalogs list and into their
    ``xy``): ``ia[k]`` of ``a`` is the same star as ``ib[k]`` of ``b``."""

    a: int
    b: int
    ia: np.ndarray
    ib: np.ndarray


def inside(points, corners, margin):
    """Mask of ``points`` (n, 2) inside the convex polygon ``corners`` grown by ``margin``."""
    edges = np.roll(corners, -1, axis=0) - corners
    orientation = np.sign(np.sum(corners[:, 0] * edges[:, 1] - corners[:, 1] * edges[:, 0]))
    outward = orientation * np.column_stack([edges[:, 1], -edges[:, 0]]) / np.hypot(*edges.T)[:, None]
    distance = np.einsum("pkj,kj->pk", points[:, None, :] - corners[None], outward)
    return (distance <= margin).all(axis=1)


def match_pairs(catalogs, matcher, pixel_scale, searchrad, min_matches):
    """Match every two exposures of different groups whose outlines overlap.

    Only the sources of each that fall within ``searchrad`` of the other's outline are matched
    (with ``matcher``, a tweakwcs ``XYXYMatch``; the later exposure as the image, the earlier as the
    reference, so its ``xoffset``/``yoffset`` mean later minus earlier); pairs with fewer than
    ``min_matches`` matches are dropped.
    """
    boxes = np.array([[*c.corners.min(axis=0), *c.corners.max(axis=0)] for c in catalogs])
    pairs = []
    for b, ref in enumerate(catalogs):
        for a in range(b + 1, len(catalogs)):
            image = catalogs[a]
            if image.group == ref.group or _apart(boxes[a], boxes[b], searchrad):
                continue
            ia = np.flatnonzero(inside(image.xy, ref.corners, searchrad))
            ib = np.flatnonzero(inside(ref.xy, image.corners, searchrad))
            if min(len(ia), len(ib)) < min_matches:
                continue
            try:
                kb, ka = matcher(_tp_table(ref.xy[ib]), _tp_table(image.xy[ia]), tp_pscale=pixel_scale)
            except MatchSourceConfusionError as err:
                log.warning("matching %s with %s: %s; the pair is left out", image.name, ref.name, err)
                continue
            if len(ka) >= min_matches:
                pairs.append(PairMatch(a, b, ia[ka], ib[kb]))
    return pairs


def _apart(box1, box2, margin):
    return bool(np.any(box1[:2] > box2[2:] + margin) or np.any(box2[:2] > box1[2:] + margin))


def _tp_table(xy):
    return Table({"TPx": xy[:, 0], "TPy": xy[:, 1]})


def _correction_jacobian(xy, centre, fitgeometry):
    """d(correction)/d(parameters), shape (n, 2, N_PARAMS[fitgeometry]), for points ``xy``."""
    d = xy - centre
    jac = np.zeros((len(xy), 2, N_PARAMS[fitgeometry]))
    jac[:, 0, 0] = jac[:, 1, 1] = 1.0
    if fitgeometry in ("rshift", "rscale"):
        jac[:, 0, 2], jac[:, 1, 2] = -d[:, 1], d[:, 0]
    if fitgeometry == "rscale":
        jac[:, :, 3] = d
    if fitgeometry == "general":
        jac[:, 0, 2:4] = jac[:, 1, 4:6] = d
    return jac


def linear_part(params, fitgeometry):
    """The 2 x 2 matrix ``L`` of a group's parameters (see the module docstring)."""
    if fitgeometry == "shift":
        return np.zeros((2, 2))
    if fitgeometry == "general":
        return params[2:6].reshape(2, 2)
    scale = params[3] if fitgeometry == "rscale" else 0.0
    return np.array([[scale, -params[2]], [params[2], scale]])


@dataclass
class Solution:
    """Per group: parameters (n_groups, n_params; zeros for fixed or unconnected groups), matches
    kept after clipping and residual RMS (arcsec); per pair the mask of kept matches."""

    params: np.ndarray
    n_matched: np.ndarray
    rms: np.ndarray
    kept: list


def solve(catalogs, pairs, centres, fixed, fitgeometry, nclip, sigma, pair_minobj, *, shift_only=()):
    """Least-squares corrections of all groups from all ``pairs``, groups in ``fixed`` held at zero.

    ``centres`` (n_groups, 2) are the groups' centres ``c_g``. Clipping: ``nclip`` times, matches
    whose residual length exceeds ``sigma`` x the RMS residual length of the kept matches are
    dropped, and so are all matches of a pair left with fewer than ``pair_minobj``, and the system
    is solved again. Groups in ``shift_only`` are fitted for a shift alone (their other
    ``fitgeometry`` parameters held at zero: a sparse group's few matches).
    """
    n_groups, n_par = len(centres), N_PARAMS[fitgeometry]
    free = np.setdiff1d(np.arange(n_groups), list(fixed))
    column = np.full(n_groups, -1)
    column[free] = np.arange(len(free))
    fitted = np.ones((len(free), n_par), bool)
    fitted[column[[g for g in shift_only if column[g] >= 0]], 2:] = False
    fitted = fitted.ravel()
    ga = np.concatenate([np.full(len(p.ia), catalogs[p.a].group) for p in pairs])
    gb = np.concatenate([np.full(len(p.ib), catalogs[p.b].group) for p in pairs])
    xa = np.concatenate([catalogs[p.a].xy[p.ia] for p in pairs])
    xb = np.concatenate([catalogs[p.b].xy[p.ib] for p in pairs])
    ja = _correction_jacobian(xa, centres[ga], fitgeometry)
    jb = _correction_jacobian(xb, centres[gb], fitgeometry)
    design = _design(ja, ga, column, n_par, len(free)) - _design(jb, gb, column, n_par, len(free))
    design = design[:, np.flatnonzero(fitted)]
    rhs = (xb - xa).ravel()
    pair_of = np.repeat(np.arange(len(pairs)), [len(p.ia) for p in pairs])
    keep = np.ones(len(xa), bool)
    for round_ in range(nclip + 1):
        rows = np.repeat(keep, 2)
        normal = (design[rows].T @ design[rows]).toarray()
        x = np.linalg.lstsq(normal, design[rows].T @ rhs[rows], rcond=None)[0]
        resid = np.hypot(*(design @ x - rhs).reshape(-1, 2).T)
        if round_ < nclip:
            keep &= resid <= sigma * np.sqrt(np.mean(resid[keep] ** 2))
            keep &= np.bincount(pair_of[keep], minlength=len(pairs))[pair_of] >= pair_minobj
    full = np.zeros(len(fitted))
    full[fitted] = x
    params = np.zeros((n_groups, n_par))
    params[free] = full.reshape(-1, n_par)
    n_matched = np.bincount(ga[keep], minlength=n_groups) + np.bincount(gb[keep], minlength=n_groups)
    sq = np.bincount(ga[keep], resid[keep] ** 2, n_groups) + np.bincount(gb[keep], resid[keep] ** 2, n_groups)
    rms = np.sqrt(sq / np.maximum(n_matched, 1))
    bounds = np.cumsum([0] + [len(p.ia) for p in pairs])
    kept = [keep[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    return Solution(params, n_matched, rms, kept)


def _design(jac, groups, column, n_par, n_free):
    """Sparse (2 n, n_free n_par) matrix of the Jacobians ``jac`` in their groups' columns; rows of
    fixed groups (column -1) stay empty."""
    n = len(jac)
    rows = np.repeat(np.arange(2 * n), n_par)
    cols = (column[np.repeat(groups, 2)][:, None] * n_par + np.arange(n_par)).ravel()
    values = jac.reshape(-1)
    free = np.repeat(column[np.repeat(groups, 2)] >= 0, n_par)
    return sparse.csr_matrix((values[free], (rows[free], cols[free])), shape=(2 * n, n_free * n_par))


def connected_sets(n_groups, a, b):
    """Label per group of its connected set, the pairs of groups ``a[k]``, ``b[k]`` being edges
    (a group in no pair is a set of its own)."""
    graph = sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(n_groups, n_groups))
    return connected_components(graph, directed=False)[1]
