# resample: the product's output grid and the drizzled _i2d mosaic (and its preview);
# optionally (single_exposure_products) each exposure drizzled alone onto the same grid.

# The output grid's options (image3.resample.grid.grid_options: make_grid's keyword arguments and
# output_wcs), as one parameter of the grid rules.
GRID_OPTIONS = grid_options(config["resample"])


rule resample_grid:
    input:
        geometry=get_grid_geometry,
        output_wcs=config["resample"]["output_wcs"] or [],
    output:
        product_grid_path("{product}"),
    log:
        f"{OUT}/logs/{{product}}/resample_grid.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/resample_grid.tsv"
    conda:
        "../envs/image3.yaml"
    params:
        grid=GRID_OPTIONS,
    script:
        "../scripts/resample/resample_grid.py"


rule resample_common_grid:
    input:
        geometry=[geometry_path(p) for p in PRODUCTS],
        output_wcs=config["resample"]["output_wcs"] or [],
    output:
        COMMON_GRID_PATH,
    log:
        f"{OUT}/logs/common/resample_common_grid.log",
    benchmark:
        f"{OUT}/benchmarks/common/resample_common_grid.tsv"
    conda:
        "../envs/image3.yaml"
    params:
        grid=GRID_OPTIONS,
    script:
        "../scripts/resample/resample_grid.py"


rule resample:
    input:
        unpack(get_drizzle_inputs),
    output:
        i2d=i2d_path("{product}"),
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
        drizzle=settings_params(DrizzleSettings, "resample"),
        sip=settings_params(SipSettings, "resample", prefix="sip_"),
        asn_table=get_asn_table,
        asn_pool=get_asn_pool,
        steps=get_image3_steps,
        exposures=get_drizzled_exposures,
    script:
        "../scripts/resample/resample.py"


rule resample_exposure:
    input:
        unpack(get_drizzle_inputs),
    output:
        i2d=exposure_i2d_path("{product}", "{exposure}", "{asn_id}"),
    log:
        f"{OUT}/logs/{{product}}/resample_exposure/{{exposure}}_{{asn_id}}.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/resample_exposure/{{exposure}}_{{asn_id}}.tsv"
    conda:
        "../envs/image3.yaml"
    resources:
        mem_mb=lambda w, input, attempt: int(attempt * (600 + 4 * input.size_mb)),
    params:
        drizzle=settings_params(DrizzleSettings, "resample"),
        sip=settings_params(SipSettings, "resample", prefix="sip_"),
        asn_table=get_asn_table,
        asn_pool=get_asn_pool,
        steps=get_image3_steps,
        exposures=get_drizzled_exposures,
    script:
        # The product's drizzle, with this exposure alone.
        "../scripts/resample/resample.py"


# The mosaic's preview (with tiles there is no single mosaic: rules/tiles.smk draws the tiles).
if UNTILED:

    rule preview:
        input:
            i2d=rules.resample.output.i2d,
        output:
            report(
                qa_path("{product}", "i2d"),
                caption="../report/preview.rst",
                category="Mosaics",
                subcategory="{product}",
            ),
        log:
            f"{OUT}/logs/{{product}}/preview.log",
        benchmark:
            f"{OUT}/benchmarks/{{product}}/preview.tsv"
        priority: LEAF_PRIORITY
        conda:
            "../envs/image3.yaml"
        script:
            "../scripts/resample/preview.py"
