"""The sparse least-squares of the sky levels against the dense one it replaced (numpy's lstsq and
pinv on the whole system), on random overlap graphs of several components."""

import numpy as np
import pytest

from image3.skymatch.levels import _equal_levels_chi2, _free_fit, _solve


class Pair:
    def __init__(self, a, b, before, error):
        self.a, self.b, self.before, self.error = a, b, before, error


def random_pairs(rng, sizes):
    """Pairs within components of the given sizes (each a chain plus random extra links)."""
    pairs, start = [], 0
    for size in sizes:
        names = [f"f{k}" for k in range(start, start + size)]
        links = [(names[k], names[k + 1]) for k in range(size - 1)]
        links += [tuple(rng.choice(names, 2, replace=False)) for _ in range(2 * size if size > 1 else 0)]
        pairs += [Pair(a, b, rng.normal(0, 0.01), rng.uniform(0.001, 0.003)) for a, b in links]
        start += size
    return [f"f{k}" for k in range(start)], pairs


def dense_levels_and_covariance(groups, pairs):
    index = {g: k for k, g in enumerate(groups)}
    design = np.zeros((len(pairs), len(groups)))
    for r, p in enumerate(pairs):
        design[r, index[p.a]], design[r, index[p.b]] = 1 / p.error, -1 / p.error
    rhs = np.array([p.before / p.error for p in pairs])
    return design, rhs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_solve_and_covariance_equal_the_dense(seed):
    rng = np.random.default_rng(seed)
    groups, pairs = random_pairs(rng, [12, 7, 1, 5])
    levels, components = _solve(groups, pairs)
    levels_free, cov, labels = _free_fit(groups, pairs)
    design, rhs = dense_levels_and_covariance(groups, pairs)
    for comp in components:
        k = np.array([groups.index(g) for g in comp])
        gauge = np.zeros((1, len(groups)))
        gauge[0, k] = 1.0
        rows = np.flatnonzero(np.abs(design[:, k]).sum(axis=1))
        expected = np.linalg.lstsq(
            np.vstack([design[rows][:, k], gauge[:, k]]), np.append(rhs[rows], 0), rcond=None
        )[0]
        np.testing.assert_allclose(levels[k], expected, atol=1e-12, rtol=1e-9)
    np.testing.assert_array_equal(levels_free, levels)
    # The chi-square of "these levels are equal" (what group_exposures auto tests) is the dense
    # pseudo-inverse's, for sets inside one component and across components.
    resid = design @ levels - rhs
    dof = len(pairs) - (len(groups) - len(components))
    scale = max(1.0, resid @ resid / dof)
    normal = design.T @ design
    dense_cov = np.zeros_like(normal)
    for c in range(labels.max() + 1):
        k = np.flatnonzero(labels == c)
        dense_cov[np.ix_(k, k)] = scale * np.linalg.pinv(normal[np.ix_(k, k)])
    for sets in ([[0, 3, 5]], [[1, 2], [13, 14, 19]], [[0, 12, 19], [4, 15]]):
        chi2, n = _equal_levels_chi2(sets, levels, cov, labels)
        dense_chi2, dense_n = _equal_levels_chi2(sets, levels, lambda i: dense_cov[np.ix_(i, i)], labels)
        assert n == dense_n
        np.testing.assert_allclose(chi2, dense_chi2, rtol=1e-8)
