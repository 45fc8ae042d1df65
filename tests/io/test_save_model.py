"""Products are reproducible: the same datamodel saved by two processes gives the same bytes but
for its date stamps (asdf's own order of the extensions a file uses is not, see
image3.io._asdf.stable_extension_order)."""

import subprocess
import sys

from workflow_helpers import assert_same_bytes_but_dates

# A small level-2b image with a JWST imaging gwcs, saved with image3's writer; before that, the
# process makes ``clutter`` objects and imports astropy.table, so the two processes differ in
# where their objects lie in memory.
SAVE = """
import sys
import numpy as np
from stdatamodels.jwst import datamodels
clutter = [object() for _ in range(int(sys.argv[2]))]
import astropy.table  # noqa: F401
from image3.wcs.jwst_wcs import Pointing, imaging_wcs
from image3.io.level2b import save_model
model = datamodels.ImageModel(np.ones((32, 32), np.float32))
model.meta.wcs = imaging_wcs((32, 32), Pointing(ra_ref=53.16, dec_ref=-27.8, roll_ref=30.0))
model.meta.bunit_data = "MJy/sr"
save_model(model, sys.argv[1])
"""


def test_same_model_saved_by_two_processes_gives_the_same_bytes(tmp_path):
    paths = [tmp_path / "a" / "x_cal.fits", tmp_path / "b" / "x_cal.fits"]
    for path, clutter in zip(paths, (0, 123_457), strict=True):
        path.parent.mkdir()
        subprocess.run([sys.executable, "-c", SAVE, str(path), str(clutter)], check=True)
    assert_same_bytes_but_dates(paths[:1], paths[1:])
