# skymatch: one sky level per exposure of a product, in a side file that the _crf files (and so
# resample) use, and what it measured, for its QA figure (rules/qa.smk).


rule skymatch:
    input:
        cal=lambda w: cal_paths(w.product),
        geometry=lambda w: geometry_path(w.product),
        skylist=config["skymatch"]["skylist"] or [],
    output:
        sky=f"{OUT}/{{product}}/work/{{product}}_sky.json",
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
        settings=config["skymatch"],
        exposures=lambda w: list(PRODUCTS[w.product].exposures),
    script:
        "../scripts/skymatch.py"
