# Source catalog: detection, deblending and photometry of each mosaic with its report figure (one job),
# and with
# a common grid the multi-band catalog of all products.

CATALOG_SETTINGS = settings_params(CatalogSettings, "source_catalog")


# With tiles, the product's catalog is its tiles' merged (rules/tiles.smk).
if UNTILED:

    rule source_catalog:
        input:
            i2d=rules.resample.output.i2d,
            apcorr=reference_input("apcorr"),
            abvegaoffset=reference_input("abvegaoffset"),
        output:
            **catalog_paths("{product}", "{product}"),
        log:
            f"{OUT}/logs/{{product}}/source_catalog.log",
        benchmark:
            f"{OUT}/benchmarks/{{product}}/source_catalog.tsv"
        wildcard_constraints:
            product=_alternatives(UNTILED),
        conda:
            "../envs/image3.yaml"
        resources:
            # The mosaic's SCI and ERR in Jy, background, RMS, smoothed image and segmentation.
            mem_mb=lambda w, input, attempt: int(attempt * (800 + 2 * input.size_mb)),
        params:
            **crds_params(),
            settings=CATALOG_SETTINGS,
            apcorr=reference_file("apcorr"),
            abvegaoffset=reference_file("abvegaoffset"),
        script:
            "../scripts/source_catalog/source_catalog.py"


rule multiband_catalog:
    input:
        i2d=[i2d_path(p) for p in PRODUCTS],
        apcorr=reference_input("apcorr", PRODUCTS),
        abvegaoffset=reference_input("abvegaoffset", PRODUCTS),
    output:
        **catalog_paths("multiband", "multiband"),
    log:
        f"{OUT}/logs/multiband/multiband_catalog.log",
    benchmark:
        f"{OUT}/benchmarks/multiband/multiband_catalog.tsv"
    conda:
        "../envs/image3.yaml"
    resources:
        mem_mb=lambda w, input, attempt: int(attempt * (800 + 2.5 * input.size_mb)),
    params:
        **crds_params(PRODUCTS),
        settings=CATALOG_SETTINGS,
        apcorr=reference_file("apcorr", PRODUCTS),
        abvegaoffset=reference_file("abvegaoffset", PRODUCTS),
    script:
        "../scripts/source_catalog/multiband_catalog.py"


# The catalog's QA figure (with tiles there is no single mosaic or catalog to show).
if UNTILED:

    rule catalog_qa:
        input:
            i2d=rules.resample.output.i2d,
            cat=rules.source_catalog.output.cat,
        output:
            report(
                qa_path("{product}", "cat"),
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
            "../scripts/source_catalog/catalog_qa.py"
