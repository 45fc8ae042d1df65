# The demo dataset: a scene and pointing plan, one job per exposure, and the association.
# Each rule receives only the simulate settings it uses, so e.g. a read-noise change re-renders
# the exposures but keeps the scene.

if IS_DEMO:
    (DEMO_PRODUCT,) = PRODUCTS.values()

    rule simulate_plan:
        output:
            scene=f"{DEMO_DIR}/truth/scene.ecsv",
            exposures=f"{DEMO_DIR}/truth/exposures.json",
        log:
            f"{DEMO_DIR}/logs/simulate_plan.log",
        benchmark:
            f"{DEMO_DIR}/benchmarks/simulate_plan.tsv"
        conda:
            "../envs/image3.yaml"
        params:
            settings=simulate_settings(demo.PLAN_KEYS),
        script:
            "../scripts/simulate/simulate_plan.py"

    rule simulate_exposure:
        input:
            scene=rules.simulate_plan.output.scene,
            exposures=rules.simulate_plan.output.exposures,
        output:
            cal=f"{DEMO_DIR}/{{exposure}}_cal.fits",
            cosmic_rays=f"{DEMO_DIR}/truth/{{exposure}}_cosmic_rays.ecsv",
            artefacts=f"{DEMO_DIR}/truth/{{exposure}}_artefacts.fits",
        log:
            f"{DEMO_DIR}/logs/simulate_exposure/{{exposure}}.log",
        benchmark:
            f"{DEMO_DIR}/benchmarks/simulate_exposure/{{exposure}}.tsv"
        conda:
            "../envs/image3.yaml"
        params:
            settings=simulate_settings(demo.DETECTOR_KEYS),
        script:
            "../scripts/simulate/simulate_exposure.py"

    # A look at the real-sky artefacts of the first exposure, for the report (rule all asks for
    # it when simulate.artefacts is not empty).
    rule simulate_qa:
        input:
            cal=demo_artefact_look()["cal"],
            artefacts=demo_artefact_look()["artefacts"],
        output:
            report(
                qa_path(DEMO_PRODUCT.name, "artefacts"),
                caption="../report/artefacts.rst",
                category="Simulated sky",
                subcategory=DEMO_PRODUCT.name,
            ),
        log:
            f"{DEMO_DIR}/logs/simulate_qa.log",
        benchmark:
            f"{DEMO_DIR}/benchmarks/simulate_qa.tsv"
        priority: LEAF_PRIORITY
        conda:
            "../envs/image3.yaml"
        script:
            "../scripts/simulate/simulate_qa.py"

    rule simulate_association:
        output:
            f"{DEMO_DIR}/{demo.association_name()}",
        log:
            f"{DEMO_DIR}/logs/simulate_association.log",
        benchmark:
            f"{DEMO_DIR}/benchmarks/simulate_association.tsv"
        conda:
            "../envs/image3.yaml"
        params:
            asn_id=demo.ASN_ID,
            product=DEMO_PRODUCT.name,
            members=[Path(m).name for m in DEMO_PRODUCT.members],
        script:
            "../scripts/simulate/simulate_association.py"

    rule simulate_reference_files:
        output:
            **DEMO_REFERENCE_FILES,
        log:
            f"{DEMO_DIR}/logs/simulate_reference_files.log",
        benchmark:
            f"{DEMO_DIR}/benchmarks/simulate_reference_files.tsv"
        conda:
            "../envs/image3.yaml"
        params:
            filters=[config["simulate"]["filter"]],
            pupil=demo.pupil(config["simulate"]),
            settings=simulate_settings(("instrument", "detectors", "shape", "mosaic")),
        script:
            "../scripts/simulate/simulate_reference_files.py"
