# outlier_detection: each exposure drizzled alone, their median (bounded memory), and per exposure
# the median blotted back and compared; the masks go into the _crf files' DQ and resample's.

SINGLE_KEYS = ("weight_type", "pixfrac", "kernel", "fillval", "good_bits")
FLAG_KEYS = (
    "snr",
    "scale",
    "backg",
    "psf_term",
    "curvature",
    "derivative_noise",
    "single_coverage_crs",
    "lacosmic_sigclip",
    "lacosmic_sigfrac",
    "lacosmic_objlim",
    "lacosmic_sharpness",
    "source_sharpness",
)
OD = config["outlier_detection"]


rule outlier_single:
    input:
        cal=lambda w: cal_path(w.product, w.exposure),
        geometry=lambda w: geometry_path(w.product),
        grid=rules.resample_grid.output[0],
    output:
        intermediate(f"{OUT}/{{product}}/work/{{exposure}}_single.fits"),
    log:
        f"{OUT}/logs/{{product}}/outlier_single/{{exposure}}.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/outlier_single/{{exposure}}.tsv"
    conda:
        "../envs/image3.yaml"
    params:
        drizzle={
            **{k: OD[k] for k in SINGLE_KEYS},
            "pixmap_step": config["resample"]["pixmap_step"],
        },
        resample_data=OD["resample_data"],
    script:
        "../scripts/outlier_single.py"


rule outlier_median:
    input:
        singles=lambda w: [
            f"{OUT}/{w.product}/work/{e}_single.fits"
            for e in PRODUCTS[w.product].exposures
        ],
        sky=lambda w: sky_path(w.product),
    output:
        intermediate(f"{OUT}/{{product}}/work/{{product}}_median.fits"),
    log:
        f"{OUT}/logs/{{product}}/outlier_median.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/outlier_median.tsv"
    conda:
        "../envs/image3.yaml"
    resources:
        # The stacked row sections (median_memory_mb) plus the output median and count.
        mem_mb=lambda w, input, attempt: int(
            attempt
            * (500 + OD["median_memory_mb"] + 2 * input.size_mb / len(input.singles))
        ),
    params:
        maskpt=OD["maskpt"],
        max_memory_mb=OD["median_memory_mb"],
        exposures=lambda w: PRODUCTS[w.product].exposures,
    script:
        "../scripts/outlier_median.py"


rule outlier_flag:
    input:
        cal=lambda w: cal_path(w.product, w.exposure),
        geometry=lambda w: geometry_path(w.product),
        sky=rules.skymatch.output.sky,
        grid=rules.resample_grid.output[0],
        median=rules.outlier_median.output[0],
    output:
        f"{OUT}/{{product}}/work/{{exposure}}_outliers.fits",
    log:
        f"{OUT}/logs/{{product}}/outlier_flag/{{exposure}}.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/outlier_flag/{{exposure}}.tsv"
    conda:
        "../envs/image3.yaml"
    params:
        flag={k: OD[k] for k in FLAG_KEYS},
        resample_data=OD["resample_data"],
        n_exposures=lambda w: len(PRODUCTS[w.product].exposures),
    script:
        "../scripts/outlier_flag.py"


rule outlier_qa:
    input:
        cal=lambda w: cal_paths(w.product),
        masks=lambda w: [
            f"{OUT}/{w.product}/work/{e}_outliers.fits"
            for e in PRODUCTS[w.product].exposures
        ],
    output:
        report(
            f"{OUT}/{{product}}/qa/{{product}}_outliers.png",
            caption="../report/outliers.rst",
            category="Outlier detection",
            subcategory="{product}",
        ),
    log:
        f"{OUT}/logs/{{product}}/outlier_qa.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/outlier_qa.tsv"
    priority: LEAF_PRIORITY
    conda:
        "../envs/image3.yaml"
    params:
        exposures=lambda w: PRODUCTS[w.product].exposures,
    script:
        "../scripts/outlier_qa.py"
