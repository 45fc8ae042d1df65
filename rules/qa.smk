# QA figures for the report, each drawn from its step's products by a job of its own, so that it
# runs beside the next step instead of delaying it (outlier_qa is in outlier_detection.smk).


rule tweakreg_qa:
    input:
        report=rules.tweakreg.output.report,
        residuals=rules.tweakreg.output.residuals,
    output:
        report(
            f"{OUT}/{{product}}/qa/{{product}}_tweakreg.png",
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
        "../scripts/tweakreg_qa.py"


rule skymatch_qa:
    input:
        rules.skymatch.output.result,
    output:
        report(
            f"{OUT}/{{product}}/qa/{{product}}_skymatch.png",
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
        "../scripts/skymatch_qa.py"


# With tiles the product has no single mosaic or catalog to show (rules/tiles.smk draws the tiles).
if not TILED:

    rule preview:
        input:
            i2d=rules.resample.output.i2d,
        output:
            report(
                f"{OUT}/{{product}}/qa/{{product}}_i2d.png",
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
            "../scripts/preview.py"

    rule catalog_qa:
        input:
            i2d=rules.resample.output.i2d,
            cat=rules.source_catalog.output.cat,
        output:
            report(
                f"{OUT}/{{product}}/qa/{{product}}_cat.png",
                caption="../report/catalog.rst",
                category="Catalogs",
                subcategory="{product}",
            ),
        log:
            f"{OUT}/logs/{{product}}/catalog_qa.log",
        benchmark:
            f"{OUT}/benchmarks/{{product}}/catalog_qa.tsv"
        priority: LEAF_PRIORITY
        conda:
            "../envs/image3.yaml"
        script:
            "../scripts/catalog_qa.py"
