"""Sky levels from the exposures' cells (image3.skymatch.cells): per exposure (``local``), common
(``global``) or matched in the overlaps (``match``, ``global+match``), as the official skymatch
step (our own algorithm, not the official code). Levels in MJy/sr.

- ``match`` compares two exposures (or exposure groups) cell by cell in their common cells; the
  statistic ``skystat`` of the per-cell differences is the pair's level difference. One weighted
  least-squares system over all pairs gives the levels; each connected set of overlapping exposures
  is solved on its own (its lowest level is 0 with ``match_down``), and a warning says so when there
  is more than one.
- ``local`` takes ``skystat`` of the cell means of an exposure (cells averaging 64 pixels make the
  Poisson skew of single pixels negligible), and a group of several files (detectors of one
  exposure) the lowest of its files' levels, as the official step; ``global`` the smallest of the
  local levels; ``global+match`` the matched levels plus the smallest local level after matching,
  per connected set.
- Exposure groups (``group_exposures``): ``true`` gives the detectors of one exposure one level
  (the official step), ``false`` each detector its own; ``auto`` fits each detector's level first
  and keeps one level per exposure only where its detectors agree within their noise. The test is
  a chi-square of the detectors' level differences against their covariance from the per-detector
  least-squares fit (pair errors from the scatter of the cell differences, scaled up by the fit's
  reduced chi-square when above 1), on the differences that the overlaps determine; an exposure
  whose detectors differ at ``group_significance`` gets their levels. Detectors that no overlap
  links (NIRCam's two modules) are tested together over all exposures: their exposures' shared
  levels must give one offset between the two sets of detectors; where they do not, those
  exposures are split and the sets linked by their local levels (``match``). A detector set that
  cannot be tested keeps one level per exposure.
"""

import dataclasses
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy.linalg import null_space
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import splu
from scipy.stats import chi2 as chi2_distribution

from ..io.atomic import atomic_path
from .cells import ExposureCells
from .settings import SkySettings
from .statistics import Statistic, sky_statistic

__all__ = ["compute_sky", "GroupTest", "load_result", "Pair", "save_result", "SkyResult"]

log = logging.getLogger("image3")


@dataclass
class Pair:
    """Level difference of two exposure groups in their common sky cells (MJy/sr).

    ``before`` is ``level(a) - level(b)`` as measured, ``error`` its standard error, ``n`` the number
    of cell differences used; ``after`` what is left of it once the chosen levels are removed.
    """

    a: str
    b: str
    before: float
    error: float
    n: int
    after: float = np.nan


@dataclass
class GroupTest:
    """``group_exposures: auto`` on one exposure read out by several detectors (``files``): whether
    they keep one level (``one_level``) and why (``reason``, in words).

    ``chi2`` with ``dof`` degrees of freedom and its probability ``p`` under one shared level test
    the differences of the detectors' fitted levels that the overlaps determine (NaN, 0 and NaN:
    none can be tested); ``spread`` is the largest such difference (MJy/sr; NaN: none).
    """

    exposure: str
    files: list
    one_level: bool
    chi2: float
    dof: int
    p: float
    spread: float
    reason: str


@dataclass
class SkyResult:
    """Levels per exposure (MJy/sr) and what they came from.

    ``groups``: exposure -> group; ``local``: group -> local :class:`Statistic`; ``components``:
    lists of groups connected by overlaps, or linked by their local levels where ``auto`` split
    the exposures that linked them (``match`` solves each on its own); ``pairs``: the overlap
    measurements; ``group_tests``: the :class:`GroupTest` of each exposure of several detectors
    (``group_exposures: auto``).
    """

    method: str
    levels: dict
    groups: dict
    local: dict = field(default_factory=dict)
    components: list = field(default_factory=list)
    pairs: list = field(default_factory=list)
    group_tests: list = field(default_factory=list)


def save_result(result: SkyResult, path):
    """Write ``result`` as JSON (what the QA figure shows), atomically."""
    tree = asdict(result)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(tree, indent=1) + "\n")


def load_result(path) -> SkyResult:
    """A :class:`SkyResult` from a file of :func:`save_result`."""
    tree = json.loads(Path(path).read_text())
    tree["local"] = {group: Statistic(**s) for group, s in tree["local"].items()}
    tree["pairs"] = [Pair(**p) for p in tree["pairs"]]
    tree["group_tests"] = [GroupTest(**g) for g in tree["group_tests"]]
    return SkyResult(**tree)


def _usable_cells(exposures, cell_size, outskirts=False):
    """Per exposure: (cells, cell means) of cells that are well covered and hold no source in any
    exposure (with ``outskirts``, nor an extended source's outskirts)."""
    flags = [e.source + (e.outskirts if outskirts and e.outskirts is not None else 0) for e in exposures]
    flagged = np.unique(np.concatenate([e.cells[f > 0] for e, f in zip(exposures, flags, strict=True)]))
    out = []
    for e in exposures:
        ok = (e.total >= 0.5 * cell_size**2) & (e.count >= 0.5 * e.total) & ~np.isin(e.cells, flagged)
        out.append((e.cells[ok], e.sum[ok] / e.count[ok]))
    return out


def _pair_differences(exposures, usable, groups, s: SkySettings):
    """The measured level difference of every pair of groups that share enough usable cells."""
    members = {g: [k for k, e in enumerate(exposures) if e.group == g] for g in groups}
    span = [(c.min(), c.max()) if c.size else (0, -1) for c, _ in usable]
    pairs = []
    for i, ga in enumerate(groups):
        for gb in groups[i + 1 :]:
            diffs = [np.empty(0)]
            for a in members[ga]:
                for b in members[gb]:
                    if span[a][1] < span[b][0] or span[b][1] < span[a][0]:
                        continue  # disjoint ranges of cells: no overlap
                    (ca, ma), (cb, mb) = usable[a], usable[b]
                    _, ia, ib = np.intersect1d(ca, cb, assume_unique=True, return_indices=True)
                    diffs.append(ma[ia] - mb[ib])
            diffs = np.concatenate(diffs)
            if diffs.size < s.min_overlap_cells:
                continue
            stat = sky_statistic(diffs, s)
            if np.isfinite(stat.value) and stat.n >= s.min_overlap_cells:
                pairs.append(Pair(ga, gb, stat.value, max(stat.error, 1e-12), stat.n))
    return pairs


def _pair_system(groups, pairs):
    """The weighted pair differences as a sparse system: (design, rhs), one row per pair
    (``(level_a - level_b) / error = before / error``), one column per group."""
    index = {g: k for k, g in enumerate(groups)}
    weight = np.array([1.0 / p.error for p in pairs])
    rows = np.repeat(np.arange(len(pairs)), 2)
    cols = np.ravel([(index[p.a], index[p.b]) for p in pairs])
    design = coo_matrix(
        (np.ravel(np.column_stack([weight, -weight])), (rows, cols)), (len(pairs), len(groups))
    ).tocsr()
    return design, weight * np.array([p.before for p in pairs])


def _components(groups, pairs):
    """Component label of each group (sets linked by overlaps) and their number."""
    index = {g: k for k, g in enumerate(groups)}
    a, b = [index[p.a] for p in pairs], [index[p.b] for p in pairs]
    adjacency = coo_matrix((np.ones(len(pairs)), (a, b)), shape=(len(groups), len(groups)))
    ncomp, labels = connected_components(adjacency, directed=False)
    return labels, ncomp


class _GroundedNormal:
    """The normal matrix of the pair system, factorised per component with its first group's
    level held at 0 (the levels are defined up to one constant per component). Sparse: a survey's
    thousands of files cost their pairs, not their number squared."""

    def __init__(self, design, labels, ncomp):
        normal = (design.T @ design).tocsc()
        self.labels = labels
        self.ground = np.array([np.flatnonzero(labels == c)[0] for c in range(ncomp)])
        self.free = [np.flatnonzero(labels == c)[1:] for c in range(ncomp)]
        self.lu = [splu(normal[f][:, f].tocsc()) if f.size else None for f in self.free]

    def solve(self, rhs):
        """A solution of ``normal @ x = rhs`` (one per component, its ground level 0)."""
        x = np.zeros(self.labels.size)
        for f, lu in zip(self.free, self.lu, strict=True):
            if lu is not None:
                x[f] = lu.solve(rhs[f])
        return x

    def inverse(self, indices):
        """The ``indices`` x ``indices`` block of a generalised inverse of the normal matrix (the
        grounded one: zero on the ground levels and across components). Contrasts with no part
        along a component's constant level get the same variance from it as from the
        pseudo-inverse."""
        indices = np.asarray(indices)
        block = np.zeros((indices.size, indices.size))
        for c, (f, lu) in enumerate(zip(self.free, self.lu, strict=True)):
            inside = np.flatnonzero((self.labels[indices] == c) & (indices != self.ground[c]))
            if lu is None or not inside.size:
                continue
            position = np.searchsorted(f, indices[inside])
            unit = np.zeros((f.size, inside.size))
            unit[position, np.arange(inside.size)] = 1.0
            block[np.ix_(inside, inside)] = lu.solve(unit)[position]
        return block


def _least_squares(groups, pairs):
    """The weighted least-squares fit of the levels to the pair differences (sparse normal
    equations), once: (levels with mean 0 in each connected component, component labels, their
    number, the pair system's design and rhs, its grounded normal matrix; the last three None
    without pairs)."""
    labels, ncomp = _components(groups, pairs)
    if not pairs:
        return np.zeros(len(groups)), labels, ncomp, None, None, None
    design, rhs = _pair_system(groups, pairs)
    normal = _GroundedNormal(design, labels, ncomp)
    levels = normal.solve(design.T @ rhs)
    for c in range(ncomp):
        levels[labels == c] -= levels[labels == c].mean()
    return levels, labels, ncomp, design, rhs, normal


def _solve(groups, pairs):
    """Relative levels (mean 0 in each connected component) from the pair differences by one
    weighted least-squares fit; returns (levels, components)."""
    levels, labels, ncomp, *_ = _least_squares(groups, pairs)
    return levels, [[groups[k] for k in np.flatnonzero(labels == c)] for c in range(ncomp)]


def _free_fit(groups, pairs):
    """Levels of ``groups`` (each its own, as :func:`_solve`), their covariance (MJy/sr squared;
    a function of the indices whose block it returns, in a gauge where only differences within a
    component are meaningful) and each group's component label. The pair errors are scaled up by
    the fit's reduced chi-square where it exceeds 1 (the mode's error is above a mean's; cells
    share noise)."""
    levels, labels, ncomp, design, rhs, normal = _least_squares(groups, pairs)
    resid = design @ levels - rhs
    dof = len(pairs) - (len(groups) - ncomp)
    scale = max(1.0, float(resid @ resid) / dof) if dof > 0 else 1.0
    return levels, (lambda indices: scale * normal.inverse(indices)), labels


def _equal_levels_chi2(sets, levels, cov, labels):
    """Chi-square and degrees of freedom of the hypothesis that the levels of each set (lists of
    indices into ``levels``) are equal, on the differences that the overlaps determine (those
    with no part along any component's common level); (NaN, 0) when there is none."""
    used = np.unique(np.concatenate(sets))
    column = {k: c for c, k in enumerate(used)}
    rows = np.zeros((sum(len(m) - 1 for m in sets), used.size))
    start = 0
    for m in sets:  # rows: level(first member) - level(other member)
        rows[start : start + len(m) - 1, column[m[0]]] = 1.0
        rows[np.arange(start, start + len(m) - 1), [column[k] for k in m[1:]]] = -1.0
        start += len(m) - 1
    gauge = (labels[used][:, None] == np.unique(labels[used])).astype(float)
    basis = null_space((rows @ gauge).T)
    if basis.shape[1] == 0:
        return np.nan, 0
    contrasts = basis.T @ rows
    r = contrasts @ levels[used]
    v = contrasts @ cov(used) @ contrasts.T
    return float(r @ np.linalg.pinv(v) @ r), basis.shape[1]


def _auto_groups(exposures, usable, s: SkySettings):
    """``group_exposures: auto``: test whether the detectors (files) of each exposure group agree
    (see the module docstring). Returns the exposures, with each file its own group where its
    exposure's detectors differ, and a :class:`GroupTest` per exposure of several files."""
    members = {}
    for k, e in enumerate(exposures):
        members.setdefault(e.group, []).append(k)
    several = {g: m for g, m in members.items() if len(m) > 1}
    if not several:
        return exposures, []
    names = [e.name for e in exposures]
    files = [dataclasses.replace(e, group=e.name) for e in exposures]
    levels, cov, labels = _free_fit(names, _pair_differences(files, usable, names, s))
    alpha = s.group_significance
    tests = {}
    for g, m in several.items():
        chi2, dof = _equal_levels_chi2([m], levels, cov, labels)
        p = float(chi2_distribution.sf(chi2, dof)) if dof else np.nan
        spreads = [np.ptp(levels[[k for k in m if labels[k] == c]]) for c in set(labels[m])]
        spread = max(spreads) if dof else np.nan
        if not dof:
            reason = "no overlap links its detectors' levels: one level, as the official step"
        elif p < alpha:
            reason = f"its detectors' levels differ: chi2 {chi2:.1f} for {dof} dof, p {p:.2g} < {alpha:g}"
        else:
            reason = f"its detectors' levels agree: chi2 {chi2:.1f} for {dof} dof, p {p:.2g} >= {alpha:g}"
        tests[g] = GroupTest(g, [names[k] for k in m], not p < alpha, chi2, dof, p, float(spread), reason)
    _test_links(several, tests, levels, cov, labels, alpha)
    split = {g for g, test in tests.items() if not test.one_level}
    out = [f if e.group in split else e for e, f in zip(exposures, files, strict=True)]
    for test in tests.values():
        log.info("%s: %s", test.exposure, test.reason)
    log.info(
        "group_exposures auto: %d of %d exposures of several detectors keep one level, %d one level "
        "per detector",
        len(tests) - len(split),
        len(tests),
        len(split),
    )
    return out, list(tests.values())


def _test_links(several, tests, levels, cov, labels, alpha):
    """Exposures whose detectors lie in sets that no overlap links (NIRCam's two modules): the
    exposures' shared levels are then the only links, and must all give one offset between the
    sets. Tested together; where they disagree, those exposures are split (``tests`` updated)."""
    linking = [g for g, m in several.items() if tests[g].one_level and len(set(labels[m])) > 1]
    if not linking:
        return
    chi2, dof = _equal_levels_chi2([several[g] for g in linking], levels, cov, labels)
    if not dof:
        return
    p = float(chi2_distribution.sf(chi2, dof))
    words = f"chi2 {chi2:.1f} for {dof} dof, p {p:.2g}"
    for g in linking:
        test = tests[g]
        if p < alpha:
            test.one_level, test.reason = (
                False,
                f"its detectors are linked only through the exposures' shared levels, which disagree "
                f"across {len(linking)} exposures ({words} < {alpha:g}): one level per detector, the "
                "detector sets linked by their local levels",
            )
        else:
            test.reason += f"; the exposures' shared levels link its detector sets consistently ({words})"
        if not test.dof:
            test.chi2, test.dof, test.p = chi2, dof, p


def _link_by_local(components, rel, local, tests):
    """Components (lists of groups) that a split exposure (``tests``) spans, joined into one:
    each shifted by the mean of its groups' local less relative levels (``rel`` updated), so the
    detector sets that no overlap links keep the offset their local levels give."""
    where = {g: c for c, comp in enumerate(components) for g in comp}
    join = np.arange(len(components))
    for test in tests:
        if not test.one_level:
            parts = sorted({join[where[f]] for f in test.files})
            join[np.isin(join, parts)] = parts[0]
    if len(set(join)) == len(components):
        return components
    linked = []
    for root in dict.fromkeys(join):
        parts = [components[c] for c in np.flatnonzero(join == root)]
        if len(parts) > 1:
            for comp in parts:
                offsets = [local[g].value - rel[g] for g in comp if np.isfinite(local[g].value)]
                base = float(np.mean(offsets)) if offsets else 0.0
                rel.update({g: rel[g] + base for g in comp})
            log.info(
                "detector sets linked by their local levels (no overlap links them): %s",
                "; ".join(", ".join(comp) for comp in parts),
            )
        linked.append([g for comp in parts for g in comp])
    return linked


def _group_local_levels(exposures, groups, sky_only, usable, s: SkySettings):
    """Local level (:class:`Statistic`) of each group: the lowest of its files' local levels, as
    the official step (a group's sky is the minimum of its members'), so no file of the group has
    more than its own sky taken off. A file's local level is ``s.skystat`` of its sky cells'
    means (``sky_only``: without extended sources' outskirts; all ``usable`` cells where fewer
    than ``s.min_overlap_cells`` are left)."""
    local = {}
    for g in groups:
        best = Statistic(np.nan, np.nan, 0)
        for e, (_, clean), (_, means) in zip(exposures, sky_only, usable, strict=True):
            if e.group != g:
                continue
            stat = sky_statistic(clean if clean.size >= s.min_overlap_cells else means, s)
            if np.isfinite(stat.value) and (not np.isfinite(best.value) or stat.value < best.value):
                best = stat
        local[g] = best
        if not np.isfinite(best.value):
            log.warning("group %s: no usable sky cells; its local level is unknown", g)
    return local


def compute_sky(exposures: list[ExposureCells], s: SkySettings) -> SkyResult:
    """Levels of ``exposures`` by ``s.skymethod`` (not ``user``: see :func:`user_sky`).

    The ``group`` of each exposure (file) is its exposure group: with ``s.group_exposures`` True
    they share one level, with ``"auto"`` only where its detectors agree (:func:`_auto_groups`).
    """
    usable = _usable_cells(exposures, s.cell_size)
    tests = []
    if s.group_exposures == "auto":
        exposures, tests = _auto_groups(exposures, usable, s)
    groups = list(dict.fromkeys(e.group for e in exposures))
    sky_only = _usable_cells(exposures, s.cell_size, outskirts=True) if s.mask_grow > 0 else usable
    local = _group_local_levels(exposures, groups, sky_only, usable, s)
    pairs = _pair_differences(exposures, usable, groups, s)
    relative, components = _solve(groups, pairs)
    rel = dict(zip(groups, relative, strict=True))
    components = _link_by_local(components, rel, local, tests)
    method = s.skymethod
    if method == "local":
        level = {g: local[g].value for g in groups}
    elif method == "global":
        finite = [local[g].value for g in groups if np.isfinite(local[g].value)]
        level = dict.fromkeys(groups, min(finite) if finite else np.nan)
    else:
        level = {}
        for comp in components:
            if method == "match":
                ref = min(rel[g] for g in comp) if s.match_down else max(rel[g] for g in comp)
                level.update({g: rel[g] - ref for g in comp})
            else:
                finite = [local[g].value - rel[g] for g in comp if np.isfinite(local[g].value)]
                base = min(finite) if finite else np.nan
                level.update({g: rel[g] + base for g in comp})
        if len(components) > 1:
            log.warning(
                "%d groups of exposures do not overlap each other; each is matched on its own and their "
                "levels are not matched to one another: %s",
                len(components),
                "; ".join(", ".join(c) for c in components),
            )
    for g in groups:
        if not np.isfinite(level[g]):
            log.warning("group %s: no sky level could be measured; recording 0", g)
            level[g] = 0.0
    for p in pairs:
        p.after = p.before - (level[p.a] - level[p.b])
        log.info(
            "overlap %s - %s: %.6f +- %.6f MJy/sr in %d cells; %.6f after",
            p.a,
            p.b,
            p.before,
            p.error,
            p.n,
            p.after,
        )
    levels = {e.name: float(level[e.group]) + e.level0 for e in exposures}
    groups = {e.name: e.group for e in exposures}
    return SkyResult(method, levels, groups, local, components, pairs, tests)
