# skymatch: one sky level per exposure of a product, in a side file that the _crf files (and so
# resample) use, and what it measured, for its QA figure (skymatch_qa).


rule skymatch:
    input:
        cal=get_cals,
        geometry=get_geometry,
        skylist=config["skymatch"]["skylist"] or [],
    output:
        sky=sky_path("{product}"),
        result=f"{OUT}/{{product}}/work/{{product}}_skymatch.json",
    log:
        f"{OUT}/logs/{{product}}/skymatch.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/skymatch.tsv"
    conda:
        "../envs/image3.yaml"
    resources:
        # One exposure at a time: its arrays (the file's size) and about 4 times that in masks
        # and the pixel-to-cell map.
        mem_mb=lambda w, input, attempt: int(
            attempt * (800 + 4 * input.size_mb / max(len(input.cal), 1))
        ),
    params:
        settings=settings_params(SkySettings, "skymatch"),
        exposures=get_exposure_list,
    script:
        "../scripts/skymatch/skymatch.py"


# The sky levels' QA figure, a job of its own so that it runs beside the next step.
rule skymatch_qa:
    input:
        rules.skymatch.output.result,
    output:
        report(
            qa_path("{product}", "skymatch"),
            caption="../report/skymatch.rst",
            category="Sky matching",
            subcategory="{product}",
        ),
    log:
        f"{OUT}/logs/{{product}}/skymatch_qa.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/skymatch_qa.tsv"
    priority: LEAF_PRIORITY
    conda:
        "../envs/image3.yaml"
    script:
        "../scripts/skymatch/skymatch_qa.py"
