# resample: the product's output grid and the drizzled _i2d mosaic (its preview: rules/qa.smk);
# optionally (single_exposure_products) each exposure drizzled alone onto the same grid.

GRID_KEYS = (
    "pixel_scale",
    "pixel_scale_ratio",
    "rotation",
    "crpix",
    "crval",
    "output_shape",
    "output_wcs",
    "max_output_pixels",
)
DRIZZLE_KEYS = (
    "kernel",
    "pixfrac",
    "fillval",
    "weight_type",
    "good_bits",
    "pixmap_step",
)


rule resample_grid:
    input:
        geometry=lambda w: [geometry_path(w.product)],
        output_wcs=config["resample"]["output_wcs"] or [],
    output:
        f"{OUT}/{{product}}/work/{{product}}_grid.json",
    log:
        f"{OUT}/logs/{{product}}/resample_grid.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/resample_grid.tsv"
    conda:
        "../envs/image3.yaml"
    params:
        **{k: config["resample"][k] for k in GRID_KEYS},
    script:
        "../scripts/resample_grid.py"


rule resample_common_grid:
    input:
        geometry=[geometry_path(p) for p in PRODUCTS],
        output_wcs=config["resample"]["output_wcs"] or [],
    output:
        f"{OUT}/common/common_grid.json",
    log:
        f"{OUT}/logs/common/resample_common_grid.log",
    benchmark:
        f"{OUT}/benchmarks/common/resample_common_grid.tsv"
    conda:
        "../envs/image3.yaml"
    params:
        **{k: config["resample"][k] for k in GRID_KEYS},
    script:
        "../scripts/resample_grid.py"


rule resample:
    input:
        unpack(lambda w: drizzle_inputs(w.product, PRODUCTS[w.product].exposures)),
    output:
        i2d=f"{OUT}/{{product}}/{{product}}_i2d.fits",
    log:
        f"{OUT}/logs/{{product}}/resample.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/resample.tsv"
    conda:
        "../envs/image3.yaml"
    threads: drizzle_processes
    resources:
        # Output arrays take at most the inputs' size (the grid is no larger than the exposures'
        # summed area, and both carry 7 float32 planes), once per process; one exposure at a time
        # per process plus its pixel map.
        mem_mb=lambda w, input, threads, attempt: int(
            attempt
            * threads
            * (600 + input.size_mb + 3 * input.size_mb / len(input.cal))
        ),
    params:
        drizzle={k: config["resample"][k] for k in DRIZZLE_KEYS},
        sip=sip_settings("resample"),
        asn_table=lambda w: PRODUCTS[w.product].asn_table,
        steps=lambda w: image3_steps(w.product),
        exposures=lambda w: PRODUCTS[w.product].exposures,
    script:
        "../scripts/resample.py"


rule resample_exposure:
    input:
        unpack(lambda w: drizzle_inputs(w.product, [w.exposure])),
    output:
        i2d=f"{OUT}/{{product}}/{{exposure}}_{{asn_id}}_i2d.fits",
    log:
        f"{OUT}/logs/{{product}}/resample_exposure/{{exposure}}_{{asn_id}}.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/resample_exposure/{{exposure}}_{{asn_id}}.tsv"
    conda:
        "../envs/image3.yaml"
    resources:
        mem_mb=lambda w, input, attempt: int(attempt * (600 + 4 * input.size_mb)),
    params:
        drizzle={k: config["resample"][k] for k in DRIZZLE_KEYS},
        sip=sip_settings("resample"),
        asn_table=lambda w: PRODUCTS[w.product].asn_table,
        steps=lambda w: image3_steps(w.product),
        exposures=lambda w: [w.exposure],
    script:
        # The product's drizzle, with this exposure alone.
        "../scripts/resample.py"
