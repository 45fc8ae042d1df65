# outlier_detection: each exposure drizzled alone, their median (bounded memory), and per exposure
# the median blotted back and compared; the masks go into the _crf files' DQ and resample's.

OD = config["outlier_detection"]


rule outlier_single:
    input:
        cal=get_cal,
        geometry=shared(get_geometry),
        grid=rules.resample_grid.output[0],
    output:
        intermediate(single_path("{product}", "{exposure}")),
    log:
        f"{OUT}/logs/{{product}}/outlier_single/{{exposure}}.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/outlier_single/{{exposure}}.tsv"
    conda:
        "../envs/image3.yaml"
    params:
        # The pixel maps' sampling is resample's (one geometry file serves both).
        drizzle=settings_params(
            DrizzleSettings,
            "outlier_detection",
            given={"pixmap_step": config["resample"]["pixmap_step"]},
        ),
        resample_data=OD["resample_data"],
    script:
        "../scripts/outlier_detection/outlier_single.py"


rule outlier_median:
    input:
        singles=get_singles,
        sky=get_sky,
    output:
        intermediate(median_path("{product}")),
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
        exposures=get_exposures,
    script:
        "../scripts/outlier_detection/outlier_median.py"


rule outlier_flag:
    input:
        cal=get_cal,
        geometry=shared(get_geometry),
        sky=shared(get_sky),
        grid=rules.resample_grid.output[0],
        median=shared(get_median),
    output:
        outlier_mask_path("{product}", "{exposure}"),
    log:
        f"{OUT}/logs/{{product}}/outlier_flag/{{exposure}}.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/outlier_flag/{{exposure}}.tsv"
    conda:
        "../envs/image3.yaml"
    params:
        flag=settings_params(FlagSettings, "outlier_detection"),
        good_bits=OD["good_bits"],  # the singles' (DrizzleSettings): no flag where they have no data
        resample_data=OD["resample_data"],
        n_exposures=get_n_exposures,
    script:
        "../scripts/outlier_detection/outlier_flag.py"


rule outlier_qa:
    input:
        cal=get_cals,
        masks=get_outlier_masks,
    output:
        report(
            qa_path("{product}", "outliers"),
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
        exposures=get_exposures,
    script:
        "../scripts/outlier_detection/outlier_qa.py"
