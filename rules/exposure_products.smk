# Exposure products: each member's _crf file (level-2b format with the final WCS, sky and DQ).


rule crf:
    input:
        cal=get_cal,
        wcs=shared(get_wcs_set),
        sky=shared(get_sky),
        outliers=get_outlier_mask,
    output:
        crf_path("{product}", "{exposure}", "{asn_id}"),
    log:
        f"{OUT}/logs/{{product}}/crf/{{exposure}}_{{asn_id}}.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/crf/{{exposure}}_{{asn_id}}.tsv"
    priority: CRF_PRIORITY
    conda:
        "../envs/image3.yaml"
    params:
        asn_table=get_asn_table,
        asn_pool=get_asn_pool,
        steps=get_image3_steps,
        sip=settings_params(SipSettings, "tweakreg", prefix="sip_"),
    script:
        "../scripts/exposure_products/crf.py"
