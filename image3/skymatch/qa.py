"""The sky matching's QA figure: levels per exposure and overlap differences before and after."""

import numpy as np

from .._plotting import fixed_margins, plt

__all__ = ["plot_skymatch"]


def plot_skymatch(result, png_path):
    """Sky-matching QA: the level of each exposure (MJy/sr), and the level difference of each
    overlapping pair as measured (before) and once the recorded levels are removed (after).

    ``result`` is an :class:`image3.skymatch.levels.SkyResult`; exposures are numbered in their order (a
    pair is labelled by the first exposure of each group), and groups of exposures that overlap
    nothing else are named in the title, as is what ``group_exposures: auto`` chose.
    """
    names = list(result.levels)
    number = {name: k + 1 for k, name in enumerate(names)}
    first = {}
    for name, group in result.groups.items():
        first.setdefault(group, number[name])
    fig, axes = plt.subplots(1, 3, figsize=(15, 5), width_ratios=(1, 1.3, 1.3))
    colours = {g: f"C{k % 10}" for k, comp in enumerate(result.components) for g in comp}
    x = np.arange(1, len(names) + 1)
    axes[0].bar(
        x, [result.levels[n] for n in names], color=[colours.get(result.groups[n], "C0") for n in names]
    )
    local = [
        result.local[result.groups[n]].value if result.groups[n] in result.local else np.nan for n in names
    ]
    if np.isfinite(local).any():
        axes[0].plot(x, local, "k_", markersize=14, label="measured alone (local)")
        axes[0].legend(loc="best", framealpha=0.8)
    axes[0].set_xticks(x)
    axes[0].set_xlabel("exposure")
    axes[0].set_ylabel("level (MJy/sr)")
    axes[0].set_title(f"recorded levels, skymethod {result.method}")
    k = np.arange(len(result.pairs))
    labels = [f"{first[p.a]}-{first[p.b]}" for p in result.pairs]
    error = np.array([p.error for p in result.pairs])
    for ax, when in zip(axes[1:], ("before", "after"), strict=True):
        values = np.array([getattr(p, when) for p in result.pairs])
        if len(k):
            ax.errorbar(k, values, error, fmt="o", color="C0" if when == "before" else "C1")
            ax.set_xticks(k, labels, rotation=90 if len(k) > 20 else 0, fontsize=8)
            ax.set_title(f"overlap differences {when}: rms {np.sqrt(np.mean(values**2)):.2g} MJy/sr")
        else:
            ax.text(0.5, 0.5, "no overlaps", ha="center", transform=ax.transAxes)
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_xlabel("pair of exposures")
        ax.set_ylabel("level difference (MJy/sr)")
    titles = []
    if len(result.components) > 1 and "match" in result.method:
        parts = ["{" + ",".join(str(first[g]) for g in comp) + "}" for comp in result.components]
        titles.append(
            f"{len(parts)} groups of exposures do not overlap each other: {' '.join(parts)}; "
            "each is matched on its own"
        )
    if result.group_tests:
        titles.append(_group_tests_line(result.group_tests))
    if titles:
        fig.suptitle("\n".join(titles), color="C3")
    fixed_margins(fig, top=0.45 + 0.3 * len(titles), bottom=0.9 if len(result.pairs) > 20 else 0.6)
    fig.savefig(png_path, dpi=90, format="png")
    plt.close(fig)


def _group_tests_line(tests):
    """One line on ``group_exposures: auto``'s choices (:class:`image3.skymatch.levels.GroupTest`)."""
    split = sum(not t.one_level for t in tests)
    return (
        f"group_exposures auto: {len(tests) - split} of {len(tests)} exposures of several detectors "
        f"keep one level, {split} one level per detector (their detectors' levels differ)"
    )
