# geometry: every exposure's final WCS sampled on the coarse pixel grid of the pixel maps, so the
# per-exposure drizzle and blot jobs (and the output grid) need neither gwcs nor the product's WCS set.


rule geometry:
    input:
        cal=get_cals,
        wcs=get_wcs_set,
    output:
        geometry_path("{product}"),
    log:
        f"{OUT}/logs/{{product}}/geometry.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/geometry.tsv"
    conda:
        "../envs/image3.yaml"
    params:
        exposures=get_exposures,
        step=config["resample"]["pixmap_step"],
    script:
        "../scripts/geometry/geometry.py"
