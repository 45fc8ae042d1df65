# A product refused while the workflow loaded (REFUSED in rules/common.smk: a member that is not a
# level-2b image as the steps read it, members of different set-ups or of moving and fixed targets)
# fails by a job of its own, which says why: the run's exit is non-zero and nothing of that product
# is made, while under --keep-going the other products are.


localrules:
    refuse_product,


rule refuse_product:
    output:
        refused_path("{refused}"),
    log:
        f"{OUT}/logs/{{refused}}/refused.log",
    wildcard_constraints:
        refused=_alternatives(REFUSED) or "(?!)",
    conda:
        "../envs/image3.yaml"
    params:
        message=lambda w: f"bad input: {REFUSED[w.refused]}",
    shell:
        "printf '%s\\n' {params.message:q} | tee {log} >&2; exit 1"
