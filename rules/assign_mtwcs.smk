# assign_mtwcs: for a moving target, the aligned WCS of every exposure gets the moving-target frame
# (the official step, run after tweakreg here: the pointing errors are gone before the target frame).


rule assign_mtwcs:
    input:
        cal=get_cals,
        wcs=get_aligned_wcs,
    output:
        mtwcs_path("{product}"),
    log:
        f"{OUT}/logs/{{product}}/assign_mtwcs.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/assign_mtwcs.tsv"
    conda:
        "../envs/image3.yaml"
    params:
        exposures=get_exposures,
    script:
        "../scripts/assign_mtwcs/assign_mtwcs.py"
