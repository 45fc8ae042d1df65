# tweakreg: sources per exposure, then one alignment per product giving every exposure's WCS (and
# the alignment's QA figure for the report, drawn by the same job).

DETECTION_KEYS = (
    "starfinder",
    "snr_threshold",
    "bkg_boxsize",
    "kernel_fwhm",
    "sharplo",
    "sharphi",
    "roundlo",
    "roundhi",
    "brightest",
    "peakmax",
    "npixels",
)
FIT_KEYS = (
    "searchrad",
    "use2dhist",
    "separation",
    "tolerance",
    "xoffset",
    "yoffset",
    "fitgeometry",
    "nclip",
    "sigma",
    "minobj",
    "pair_minobj",
    "sparse_minobj",
)


rule tweakreg_catalog:
    input:
        cal=lambda w: cal_path(w.product, w.exposure),
        custom=lambda w: custom_catalog(w.exposure),
    output:
        f"{OUT}/{{product}}/work/{{exposure}}_tweakreg_cat.ecsv",
    log:
        f"{OUT}/logs/{{product}}/tweakreg_catalog/{{exposure}}.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/tweakreg_catalog/{{exposure}}.tsv"
    conda:
        "../envs/image3.yaml"
    params:
        detection={k: config["tweakreg"][k] for k in DETECTION_KEYS},
        minobj=config["tweakreg"]["minobj"],
        sparse_snr_threshold=config["tweakreg"]["sparse_snr_threshold"],
    script:
        "../scripts/tweakreg_catalog.py"


rule tweakreg:
    input:
        cal=lambda w: cal_paths(w.product),
        catalogs=lambda w: [
            f"{OUT}/{w.product}/work/{e}_tweakreg_cat.ecsv"
            for e in PRODUCTS[w.product].exposures
        ],
        refcat=config["tweakreg"]["abs_refcat"] or [],
    output:
        wcs=f"{OUT}/{{product}}/work/{{product}}_wcs.zip",
        report=f"{OUT}/{{product}}/{{product}}_tweakreg.ecsv",
        residuals=f"{OUT}/{{product}}/work/{{product}}_tweakreg_residuals.ecsv",
    log:
        f"{OUT}/logs/{{product}}/tweakreg.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/tweakreg.tsv"
    conda:
        "../envs/image3.yaml"
    params:
        exposures=lambda w: PRODUCTS[w.product].exposures,
        skip=config["tweakreg"]["skip"],
        fit={k: config["tweakreg"][k] for k in FIT_KEYS},
        abs_fit={
            k: config["tweakreg"][f"abs_{k}"]
            for k in FIT_KEYS
            if f"abs_{k}" in config["tweakreg"]
        },
        abs_epoch=config["tweakreg"]["abs_epoch"],
        enforce_user_order=config["tweakreg"]["enforce_user_order"],
        expand_refcat=config["tweakreg"]["expand_refcat"],
        global_fit=config["tweakreg"]["global_fit"],
        group_exposures=config["tweakreg"]["group_exposures"],
        refine_tolerance=config["tweakreg"]["refine_tolerance"],
    script:
        "../scripts/tweakreg.py"
