# geometry: every exposure's final WCS sampled on the coarse pixel grid of the pixel maps, so the
# per-exposure drizzle and blot jobs (and the output grid) need neither gwcs nor the product's WCS set.


rule geometry:
    input:
        cal=lambda w: cal_paths(w.product),
        wcs=lambda w: wcs_set_path(w.product),
    output:
        f"{OUT}/{{product}}/work/{{product}}_geometry.npz",
    log:
        f"{OUT}/logs/{{product}}/geometry.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/geometry.tsv"
    conda:
        "../envs/image3.yaml"
    params:
        exposures=lambda w: PRODUCTS[w.product].exposures,
        step=config["resample"]["pixmap_step"],
    script:
        "../scripts/geometry.py"
