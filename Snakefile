# JWST imaging stage 3 (calwebb_image3) as a Snakemake workflow.
#
# Per association product: exposures (_cal) -> sources -> alignment (WCS) -> sky levels ->
# output grid -> outlier detection (singles, median, flags) -> per-exposure _crf -> _i2d mosaic ->
# source catalog (_cat.ecsv, _segm.fits); a tiled product (tiles.size > 0, or auto and a grid above
# tiles.auto_pixels) makes its mosaic and catalog tile by tile (rules/tiles.smk).
# With no `asn` in the config the demo dataset is simulated first (rules/simulate.smk).

from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: Path(workflow.basedir) / "config.yaml"


validate(config, "config.schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/simulate.smk"
include: "rules/tweakreg.smk"
include: "rules/assign_mtwcs.smk"
include: "rules/skymatch.smk"
include: "rules/geometry.smk"
include: "rules/resample.smk"
include: "rules/outlier_detection.smk"
include: "rules/exposure_products.smk"
include: "rules/source_catalog.smk"
include: "rules/tiles.smk"
include: "rules/refused.smk"
include: "rules/relay.smk"


onstart:
    start_job_server()


onsuccess:
    end_of_run()


onerror:
    end_of_run()


rule all:
    default_target: True
    input:
        all_products(),
