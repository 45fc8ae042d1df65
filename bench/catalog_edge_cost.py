"""CPU time of the catalog's edge rule (sources centred at or beyond the data's edge) against the
whole single-band catalog, on a simulated mosaic of N x M exposures of S² (the workflow's own code).

    python bench/catalog_edge_cost.py --size 1024 --mosaic 3 1
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import simdata  # noqa: E402

from image3.io.product_meta import SipSettings  # noqa: E402
from image3.resample.i2d import build_i2d  # noqa: E402
from image3.resample.settings import DrizzleSettings  # noqa: E402
from image3.source_catalog.catalog import (
    BandImage,
    _centred_at_data_edge,
    _subtract_background,
    segment,
    single_band_catalog,
)
from image3.source_catalog.settings import CatalogSettings


def best_cpu(task, repeats=3):
    """The least process CPU time (s) of ``repeats`` calls of ``task``."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        task()
        times.append(time.process_time() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--mosaic", type=int, nargs=2, default=(3, 1))
    parser.add_argument("--filter", default="F200W")
    args = parser.parse_args()
    n = args.mosaic[0] * args.mosaic[1]
    sim = simdata.settings(
        filter=args.filter, shape=[args.size] * 2, n_exposures=n, mosaic=list(args.mosaic), mosaic_overlap=0.5
    )
    _, truth, models, _ = simdata.simulate(sim)
    for model, entry in zip(models, truth, strict=True):
        model.meta.background.level = entry["sky_level"]
        model.meta.background.subtracted = False
    arrays, grid = simdata.drizzle(models)
    exptime = sum(m.meta.exposure.exposure_time for m in models)
    i2d = build_i2d(arrays, grid, models[0], DrizzleSettings(), n, exptime, 0.0311, SipSettings())
    band = BandImage.from_model(i2d)
    settings = CatalogSettings()
    subtracted, rms = _subtract_background(band, settings.bkg_boxsize)
    segm, _ = segment(subtracted.data, rms, subtracted.mask, settings)
    edge = best_cpu(
        lambda: _centred_at_data_edge(subtracted.data, subtracted.mask, segm, settings.kernel_fwhm)
    )
    whole = best_cpu(lambda: single_band_catalog(band, settings), repeats=1)
    print(f"mosaic {grid.shape[1]} x {grid.shape[0]}, {segm.nlabels} segments, {args.filter}:")
    print(f"  edge rule {edge:.2f} CPU s, whole catalog {whole:.2f} CPU s ({100 * edge / whole:.1f} %)")


if __name__ == "__main__":
    main()
