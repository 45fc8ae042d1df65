# assign_mtwcs: for a moving target, the aligned WCS of every exposure gets the moving-target frame
# (the official step, run after tweakreg here: the pointing errors are gone before the target frame).


rule assign_mtwcs:
    input:
        cal=lambda w: cal_paths(w.product),
        wcs=lambda w: aligned_wcs_path(w.product),
    output:
        f"{OUT}/{{product}}/work/{{product}}_mtwcs.zip",
    log:
        f"{OUT}/logs/{{product}}/assign_mtwcs.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/assign_mtwcs.tsv"
    conda:
        "../envs/image3.yaml"
    params:
        exposures=lambda w: PRODUCTS[w.product].exposures,
    script:
        "../scripts/assign_mtwcs.py"
