# Exposure products: each member's _crf file (level-2b format with the final WCS, sky and DQ).


rule crf:
    input:
        cal=lambda w: cal_path(w.product, w.exposure),
        wcs=lambda w: wcs_set_path(w.product),
        sky=lambda w: sky_path(w.product),
        outliers=lambda w: outlier_mask_path(w.product, w.exposure),
    output:
        f"{OUT}/{{product}}/{{exposure}}_{{asn_id}}_crf.fits",
    log:
        f"{OUT}/logs/{{product}}/crf/{{exposure}}_{{asn_id}}.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/crf/{{exposure}}_{{asn_id}}.tsv"
    priority: CRF_PRIORITY
    conda:
        "../envs/image3.yaml"
    params:
        asn_table=lambda w: PRODUCTS[w.product].asn_table,
        steps=lambda w: image3_steps(w.product),
        sip=sip_settings("tweakreg"),
    script:
        "../scripts/crf.py"
