# tweakreg: sources per exposure, then one alignment per product giving every exposure's WCS (and
# the alignment's QA figure for the report, drawn by the same job).

TWEAKREG = config["tweakreg"]


rule tweakreg_catalog:
    input:
        cal=get_cal,
        custom=get_custom_catalog,
    output:
        tweakreg_catalog_path("{product}", "{exposure}"),
    log:
        f"{OUT}/logs/{{product}}/tweakreg_catalog/{{exposure}}.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/tweakreg_catalog/{{exposure}}.tsv"
    conda:
        "../envs/image3.yaml"
    params:
        # good_bits has no tweakreg key: the library's default
        detection=settings_params(
            DetectionSettings, "tweakreg", defaults=("good_bits",)
        ),
        minobj=TWEAKREG["minobj"],
        sparse_snr_threshold=TWEAKREG["sparse_snr_threshold"],
    script:
        "../scripts/tweakreg/tweakreg_catalog.py"


rule tweakreg:
    input:
        cal=get_cals,
        catalogs=get_tweakreg_catalogs,
        refcat=TWEAKREG["abs_refcat"] or [],
    output:
        wcs=aligned_wcs_path("{product}"),
        report=f"{OUT}/{{product}}/{{product}}_tweakreg.ecsv",
        residuals=f"{OUT}/{{product}}/work/{{product}}_tweakreg_residuals.ecsv",
    log:
        f"{OUT}/logs/{{product}}/tweakreg.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/tweakreg.tsv"
    conda:
        "../envs/image3.yaml"
    params:
        exposures=get_exposures,
        skip=TWEAKREG["skip"],
        fit=settings_params(FitSettings, "tweakreg"),
        # The absolute fit's offsets and the global fit's own keys: the library's defaults.
        abs_fit=settings_params(
            FitSettings,
            "tweakreg",
            prefix="abs_",
            defaults=("xoffset", "yoffset", "pair_minobj", "sparse_minobj"),
        ),
        abs_epoch=TWEAKREG["abs_epoch"],
        enforce_user_order=TWEAKREG["enforce_user_order"],
        expand_refcat=TWEAKREG["expand_refcat"],
        global_fit=TWEAKREG["global_fit"],
        group_exposures=TWEAKREG["group_exposures"],
        refine_tolerance=TWEAKREG["refine_tolerance"],
    script:
        "../scripts/tweakreg/tweakreg.py"


# The alignment's QA figure, a job of its own so that it runs beside the next step.
rule tweakreg_qa:
    input:
        report=rules.tweakreg.output.report,
        residuals=rules.tweakreg.output.residuals,
    output:
        report(
            qa_path("{product}", "tweakreg"),
            caption="../report/tweakreg.rst",
            category="Alignment",
            subcategory="{product}",
        ),
    log:
        f"{OUT}/logs/{{product}}/tweakreg_qa.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/tweakreg_qa.tsv"
    priority: LEAF_PRIORITY
    conda:
        "../envs/image3.yaml"
    script:
        "../scripts/tweakreg/tweakreg_qa.py"
