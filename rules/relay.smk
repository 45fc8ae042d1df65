# One-input relays between a product's N-input joins (the WCS set, the sky levels, the geometry, the
# outlier median) and their N per-exposure (and per-tile) consumers. Snakemake checks each consumer's
# input against its producer's whole input list while it builds the DAG (DAG.update: `file in
# job.input`), which makes an association of N members cost N^2 comparisons per join (snakemake issue
# #598); through a relay each check is against one file. A relay is a relative symbolic link (no copy;
# it shows the file as it is, and Snakemake dates it by the link, which it touches when the relay
# runs); the temporary median's is a hard link, which keeps the data once the median is deleted.


localrules:
    relay,
    relay_median,


rule relay:
    input:
        f"{OUT}/{{product}}/work/{{name}}",
    output:
        f"{OUT}/{{product}}/work/relay/{{name}}",
    log:
        f"{OUT}/logs/{{product}}/relay/{{name}}.log",
    wildcard_constraints:
        name=r"[^/]+(?<!_median\.fits)",
    conda:
        "../envs/image3.yaml"
    shell:
        "ln -sfn ../{wildcards.name} {output} 2> {log}"


# The median is temporary unless save_intermediate_results: its relay too.
rule relay_median:
    input:
        rules.outlier_median.output[0],
    output:
        intermediate(relayed(median_path("{product}"))),
    log:
        f"{OUT}/logs/{{product}}/relay/median.log",
    conda:
        "../envs/image3.yaml"
    shell:
        "ln -f {input} {output} 2> {log}"
