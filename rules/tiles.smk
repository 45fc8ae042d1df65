# Sky tiles (tiles.size > 0, or auto for a product whose grid exceeds tiles.auto_pixels): the
# product's grid cut into overlapping tiles on its tangent plane. The tile index is a checkpoint (the
# layout depends on the output grid, a job's output); each tile is drizzled from the exposures that
# reach it and catalogued by its own jobs, and the tiles' catalogs are merged into the product's,
# each source once.


checkpoint tile_index:
    input:
        grid=get_grid,
        geometry=get_geometry,
    output:
        index=tile_index_path("{product}"),
        qa=report(
            qa_path("{product}", "tiles"),
            caption="../report/tiles.rst",
            category="Mosaics",
            subcategory="{product}",
        ),
    log:
        f"{OUT}/logs/{{product}}/tile_index.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/tile_index.tsv"
    conda:
        "../envs/image3.yaml"
    params:
        size=TILE_SIZE,
        margin=TILES["margin"],
        max_tiles=TILES["max_tiles"],
    script:
        "../scripts/tiles/tile_index.py"


rule resample_tile:
    input:
        unpack(get_drizzle_inputs),
    output:
        i2d=tile_i2d_path("{product}", "{tile}"),
    log:
        f"{OUT}/logs/{{product}}/resample_tile/{{tile}}.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/resample_tile/{{tile}}.tsv"
    conda:
        "../envs/image3.yaml"
    resources:
        # The tile's 7 float32 output planes and context, plus one exposure at a time and its pixel map.
        mem_mb=lambda w, input, attempt: int(
            attempt * (600 + 40e-6 * TILE_SIZE**2 + 3 * input.size_mb / len(input.cal))
        ),
    params:
        drizzle=settings_params(DrizzleSettings, "resample"),
        sip=settings_params(SipSettings, "resample", prefix="sip_"),
        asn_table=get_asn_table,
        asn_pool=get_asn_pool,
        steps=get_image3_steps,
        exposures=get_drizzled_exposures,
        tile=get_tile,
    script:
        # The product's drizzle, on the tile's sub-array of its grid.
        "../scripts/resample/resample.py"


rule source_catalog_tile:
    input:
        i2d=rules.resample_tile.output.i2d,
        apcorr=reference_input("apcorr"),
        abvegaoffset=reference_input("abvegaoffset"),
    output:
        **catalog_paths("{product}_{tile}", "{product}"),
    log:
        f"{OUT}/logs/{{product}}/source_catalog_tile/{{tile}}.log",
    benchmark:
        f"{OUT}/benchmarks/{{product}}/source_catalog_tile/{{tile}}.tsv"
    conda:
        "../envs/image3.yaml"
    resources:
        # As source_catalog's, of the tile's mosaic.
        mem_mb=lambda w, input, attempt: int(attempt * (800 + 2 * input.size_mb)),
    params:
        **crds_params(),
        settings=CATALOG_SETTINGS,
        apcorr=reference_file("apcorr"),
        abvegaoffset=reference_file("abvegaoffset"),
    script:
        "../scripts/source_catalog/source_catalog.py"


if TILED:

    rule merge_tile_catalogs:
        input:
            cat=get_tile_catalogs,
            grid=get_grid,
        output:
            cat=catalog_paths("{product}", "{product}")["cat"],
            regions=catalog_paths("{product}", "{product}")["regions"],
        log:
            f"{OUT}/logs/{{product}}/merge_tile_catalogs.log",
        benchmark:
            f"{OUT}/benchmarks/{{product}}/merge_tile_catalogs.tsv"
        wildcard_constraints:
            # the untiled products' catalogs are source_catalog's
            product=_alternatives(TILED),
        conda:
            "../envs/image3.yaml"
        params:
            tiles=get_tile_names,
            size=TILE_SIZE,
            margin=TILES["margin"],
        script:
            "../scripts/tiles/merge_tile_catalogs.py"
