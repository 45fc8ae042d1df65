# Shared by the rules: the products and exposures of the run, read when the workflow loads, the
# paths of the files between steps, and the rules' input and parameter functions.

import dataclasses
import os
import re
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path

from image3 import job_server
from image3.errors import InputError
from image3.io.association import SIMULATED_POOL, Product, load_association
from image3.io.members import member_scan_cache, scan_members
from image3.resample.grid import grid_options, ignored_grid_options
from image3.simulate import demo
from image3.source_catalog.crds_refs import REFTYPES as CRDS_REFTYPES
from image3.source_catalog.crds_refs import best_references, crds_parameters
from image3.tiles.auto import auto_tile_size, auto_tiling, check_auto_settings
from image3.tiles.layout import check_tile_count, check_tile_settings, read_tile_index

# The settings dataclasses whose fields are the rules' parameters (settings_params): light modules
# (standard library only), as the workflow imports them whenever it loads.
from image3.io.product_meta import SipSettings
from image3.outlier_detection.settings import FlagSettings
from image3.resample.settings import DrizzleSettings
from image3.skymatch.settings import SkySettings
from image3.source_catalog.settings import CatalogSettings
from image3.tweakreg.settings import DetectionSettings, FitSettings

OUT = config["outdir"]
# The priority of jobs whose outputs no later job reads (the QA figures): of the
# jobs ready to run, Snakemake starts them last, after those on the way to the mosaic and catalog.
LEAF_PRIORITY = -1
# The _crf files' priority: each as soon as its exposure's outlier mask exists, between the masks,
# so that resample (two cores for a large product) does not wait behind them once the masks are made.
CRF_PRIORITY = 1
DEMO_DIR = config["demo_dir"]
IS_DEMO = not config["asn"]


def demo_product():
    """The demo's product, named from the simulate config (the files do not exist yet)."""
    sim = config["simulate"]
    demo.check_settings(sim)
    members = [
        Path(DEMO_DIR, f"{name}_cal.fits")
        for name in demo.exposure_names(
            sim["n_exposures"], demo.detectors(sim), sim["visits"]
        )
    ]
    return Product(
        name=demo.product_name(sim["filter"], sim["instrument"]),
        members=tuple(members),
        asn_id=demo.ASN_ID,
        asn_table=demo.association_name(),
        asn_pool=SIMULATED_POOL,
    )


# product -> {member path: its image3.io.fits_read.HeaderScan}, for user products
MEMBER_HEADERS = {}
# product -> why it was refused while the workflow loaded (a member not a level-2b image as the steps
# read it, members of different set-ups): a job of its own fails with that message
# (rules/refused.smk), so that the other products run on under --keep-going.
REFUSED = {}


def user_products():
    """Products of the association file(s) in `asn`; every member must exist."""
    paths = config["asn"] if isinstance(config["asn"], list) else [config["asn"]]
    products = [p for path in paths for p in load_association(path)]
    missing = [(p.name, m) for p in products for m in p.members if not m.exists()]
    if missing:
        listing = "\n".join(f"  product {name}: {path}" for name, path in missing)
        raise InputError(f"association member file(s) not found:\n{listing}")
    usable = []
    # Each Snakemake start (a cluster job's too) loads the workflow: the member scans are kept
    # between loads, each while its file is unchanged (image3/io/scan_cache.py).
    cache = member_scan_cache(Path(".snakemake") / "image3" / "member_scans.pickle")
    for p in products:  # whole files of one instrument set-up, from their headers alone
        try:
            MEMBER_HEADERS[p.name] = scan_members(p.name, p.members, cache=cache)
            usable.append(p)
        except InputError as err:
            REFUSED[p.name] = str(err)
    cache.save()
    return usable


def load_products():
    products = [demo_product()] if IS_DEMO else user_products()
    names = [p.name for p in products] + list(REFUSED)
    if len(set(names)) != len(names):
        raise InputError(f"asn: product names repeat across associations: {names}")
    return {p.name: p for p in products}


try:
    PRODUCTS = load_products()
except InputError as err:
    raise WorkflowError(f"bad input: {err}") from None


def is_moving_target(product):
    """Whether a product's target moves (TARGTYPE MOVING), so assign_mtwcs runs for it.

    The demo's from its config; a user product's from its members' primary headers (they must
    agree). Known when the workflow loads, as the DAG depends on it.
    """
    if IS_DEMO:
        return config["simulate"]["moving_target"]
    headers = MEMBER_HEADERS[product.name]
    types = {
        str(m): str(headers[str(m)].primary["TARGTYPE"] or "").strip().upper()
        for m in product.members
    }
    moving = {path for path, kind in types.items() if kind == "MOVING"}
    if moving and len(moving) != len(types):
        listing = "\n".join(
            f"  {path}: {kind or 'no TARGTYPE'}" for path, kind in types.items()
        )
        raise InputError(
            f"product {product.name}: members mix moving and fixed targets (TARGTYPE):\n{listing}"
        )
    return bool(moving)


MOVING = set()
for _name, _product in list(PRODUCTS.items()):
    try:
        if is_moving_target(_product):
            MOVING.add(_name)
    except InputError as err:
        REFUSED[_name] = str(err)
        del PRODUCTS[_name]
if workflow.is_main_process:  # at once, and in a dry run too (the job says it again)
    for _message in REFUSED.values():
        print(f"bad input: {_message}", file=sys.stderr)


def _alternatives(names):
    return "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))


# Products and association ids are few: their names exactly. Exposures are many: any file name
# (an alternation of every exposure's name would be in every per-exposure path pattern, and
# Snakemake rewrites those patterns for each job: planning time would grow as N²).
wildcard_constraints:
    product=_alternatives(PRODUCTS),
    exposure=r"[^/]+",
    asn_id=_alternatives(p.asn_id for p in PRODUCTS.values()),
    tile=r"t\d+-\d+",


def refused_path(product):
    """What the refused product's job would make, and never does (rules/refused.smk)."""
    return f"{OUT}/logs/{product}/refused.txt"


def cal_path(product, exposure):
    """The exposure's level-2b input file."""
    return str(PRODUCTS[product].member(exposure))


def cal_paths(product):
    return [str(m) for m in PRODUCTS[product].members]


def crf_path(product, exposure, asn_id=None):
    """An exposure's _crf file (of the product's asn_id unless given, e.g. "{asn_id}")."""
    asn_id = asn_id or PRODUCTS[product].asn_id
    return f"{OUT}/{product}/{exposure}_{asn_id}_crf.fits"


def exposure_i2d_path(product, exposure, asn_id=None):
    """An exposure drizzled alone on its mosaic's grid (resample_exposure's output)."""
    asn_id = asn_id or PRODUCTS[product].asn_id
    return f"{OUT}/{product}/{exposure}_{asn_id}_i2d.fits"


def exposure_i2d_paths(product):
    """Each exposure drizzled alone on its mosaic's grid, when resample.single_exposure_products."""
    if not config["resample"]["single_exposure_products"]:
        return []
    return [exposure_i2d_path(product, e) for e in PRODUCTS[product].exposures]


def crf_paths(product):
    return [crf_path(product, e) for e in PRODUCTS[product].exposures]


def tweakreg_catalog_path(product, exposure):
    """The exposure's sources for alignment (tweakreg_catalog's output)."""
    return f"{OUT}/{product}/work/{exposure}_tweakreg_cat.ecsv"


def aligned_wcs_path(product):
    """The product's WCS of every exposure aligned on the fixed sky (tweakreg's output)."""
    return f"{OUT}/{product}/work/{product}_wcs.zip"


def mtwcs_path(product):
    """The aligned WCS set with the moving-target frame (assign_mtwcs's output)."""
    return f"{OUT}/{product}/work/{product}_mtwcs.zip"


def wcs_set_path(product):
    """The WCS set the steps after alignment use: assign_mtwcs's for a moving target, else tweakreg's."""
    return mtwcs_path(product) if product in MOVING else aligned_wcs_path(product)


def geometry_path(product):
    """Every exposure's final WCS sampled for the pixel maps (the geometry rule's output)."""
    return f"{OUT}/{product}/work/{product}_geometry.npz"


def sky_path(product):
    """Every exposure's sky level (skymatch's output)."""
    return f"{OUT}/{product}/work/{product}_sky.json"


def single_path(product, exposure):
    """The exposure drizzled alone for the outlier median (outlier_single's output)."""
    return f"{OUT}/{product}/work/{exposure}_single.fits"


def outlier_mask_path(product, exposure):
    """The exposure's outlier flags (outlier_flag's output)."""
    return f"{OUT}/{product}/work/{exposure}_outliers.fits"


def drizzle_processes(wildcards, input):
    """resample's threads: resample.processes when the exposures' _cal files add up to
    processes_min_mb or more, else 1. Counted from the files that exist when the run is planned
    (a demo's are simulated in the same run: then 1)."""
    rs = config["resample"]
    size_mb = sum(os.path.getsize(f) for f in input.cal if os.path.exists(f)) / 1e6
    return rs["processes"] if size_mb >= rs["processes_min_mb"] else 1


def qa_path(product, name):
    """A product's QA figure for the report (tweakreg, skymatch, outliers, i2d, cat or tiles)."""
    return f"{OUT}/{product}/qa/{product}_{name}.png"


def i2d_path(product):
    return f"{OUT}/{product}/{product}_i2d.fits"


COMMON_GRID = config["resample"]["grid"] == "common"
MULTIBAND = COMMON_GRID and len(PRODUCTS) > 1


COMMON_GRID_PATH = f"{OUT}/common/common_grid.json"  # resample_common_grid's output


def product_grid_path(product):
    """A product's own output grid (resample_grid's output)."""
    return f"{OUT}/{product}/work/{product}_grid.json"


def grid_path(product):
    """The grid a product's mosaic is drizzled onto: its own, or the run's common grid."""
    return COMMON_GRID_PATH if COMMON_GRID else product_grid_path(product)


TILES = config["tiles"]
# tiles.size auto (the default): the products whose grid exceeds tiles.auto_pixels, in tiles of its
# square root (image3/tiles/auto.py); 0: none; > 0: every product, in tiles of that size.
AUTO_TILES = TILES["size"] == "auto"
TILE_SIZE = auto_tile_size(TILES["auto_pixels"]) if AUTO_TILES else TILES["size"]


def check_tiles():
    """Refuse a tiling that cannot work, when the workflow loads: interiors must be non-empty; the
    tile count is checked here when resample.output_shape fixes the grid's shape, else by the
    tile_index job, the first to know the grid."""
    if AUTO_TILES:
        check_auto_settings(auto_pixels=TILES["auto_pixels"], margin=TILES["margin"])
        return
    if TILE_SIZE == 0:
        return
    check_tile_settings(size=TILE_SIZE, margin=TILES["margin"])
    if config["resample"]["output_wcs"]:
        raise InputError(
            "tiles.size > 0 needs a TAN output grid: set resample.output_wcs to ''"
        )
    if MULTIBAND:
        raise InputError(
            "tiles.size > 0 with resample.grid common and several products: the multi-band "
            "catalog is not made from tiles; set tiles.size to 0 or run the products separately"
        )
    shape = config["resample"]["output_shape"]  # [nx, ny], the official order
    if shape is not None:
        check_tile_count(
            shape[::-1],
            size=TILE_SIZE,
            margin=TILES["margin"],
            max_tiles=TILES["max_tiles"],
        )


def is_tiled(product):
    """Whether a product's mosaic is made in tiles: tiles.size > 0, or auto and its grid exceeds
    tiles.auto_pixels (from its members' headers; the demo's files are made in the run, so the
    demo is never tiled by auto). Says so when the workflow loads."""
    if not AUTO_TILES:
        return TILE_SIZE > 0
    if IS_DEMO:
        return False
    decision = auto_tiling(
        product,
        MEMBER_HEADERS[product],
        config["resample"],
        auto_pixels=TILES["auto_pixels"],
        multiband=MULTIBAND,
    )
    if decision.message and workflow.is_main_process:
        print(decision.message, file=sys.stderr)
    return decision.tiled


def tile_index_path(product):
    """The tile index of a tiled product (the tile_index checkpoint's output)."""
    return f"{OUT}/{product}/{product}_tiles.ecsv"


def tile_i2d_path(product, tile):
    return f"{OUT}/{product}/{product}_{tile}_i2d.fits"


def _tile_index(product):
    """{tile: [exposures it reads]} of a product, once its tile index exists (checkpoint)."""
    return read_tile_index(checkpoints.tile_index.get(product=product).output.index)


def tile_names(product):
    return list(_tile_index(product))


def tile_exposures(product, tile):
    return _tile_index(product)[tile]


def catalog_paths(name, folder):
    """The catalog, segmentation map and ds9 regions of a product (or of the multi-band set)."""
    return {
        "cat": f"{OUT}/{folder}/{name}_cat.ecsv",
        "segm": f"{OUT}/{folder}/{name}_segm.fits",
        "regions": f"{OUT}/{folder}/{name}_cat.reg",
    }


def check_outdir():
    """outdir must be (or be creatable as) a folder: its nearest existing ancestor a writable folder."""
    path = Path(OUT).absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        what = "is not a folder" if not existing.is_dir() else "is not writable"
        raise InputError(
            f"outdir = {OUT!r}: cannot write the products there ({existing} {what})"
        )


try:
    check_tiles()
    check_outdir()
except InputError as err:
    raise WorkflowError(f"bad config: {err}") from None

if (ignored := ignored_grid_options(config["resample"])) and workflow.is_main_process:
    print(f"warning: {ignored}", file=sys.stderr)

# The products made in tiles (rules/tiles.smk) and those made as one mosaic.
TILED = {p for p in PRODUCTS if is_tiled(p)}
UNTILED = set(PRODUCTS) - TILED


def demo_reference_headers():
    """The demo's members' primary keywords that CRDS selects by, from the simulate config (its
    files are made in the run): as image3/simulate writes them."""
    sim = config["simulate"]
    mode = sim["instrument"]
    start = datetime(1858, 11, 17) + timedelta(days=demo.START_MJD)
    shared = {
        "INSTRUME": "MIRI" if mode == "miri" else "NIRCAM",
        "FILTER": sim["filter"].upper(),
        "PUPIL": demo.pupil(sim),
        "CHANNEL": {"nircam_sw": "SHORT", "nircam_lw": "LONG"}.get(mode),
        "EXP_TYPE": "MIR_IMAGE" if mode == "miri" else "NRC_IMAGE",
        "DATE-OBS": start.strftime("%Y-%m-%d"),
        "TIME-OBS": start.strftime("%H:%M:%S"),
    }
    return [{**shared, "DETECTOR": d} for d in demo.detectors(sim) or ["NRCA1"]]


def crds_references():
    """product -> what CRDS names for the source catalog's reference files that the config leaves
    empty (image3/source_catalog/crds_refs.py); {} when CRDS_PATH is not set. One line per
    product says which files, from which context, or why the catalog falls back."""
    wanted = tuple(k for k in CRDS_REFTYPES if not config["source_catalog"][k])
    found = {}
    for name, product in PRODUCTS.items() if wanted else ():
        if IS_DEMO:
            headers = demo_reference_headers()
        else:
            headers = [MEMBER_HEADERS[name][str(m)].primary for m in product.members]
        refs = best_references(crds_parameters(headers), wanted)
        if refs is None:  # CRDS not configured
            return {}
        found[name] = refs
        if workflow.is_main_process:
            print(refs.summary(name), file=sys.stderr)
    return found


try:
    CRDS_REFERENCES = crds_references()
except InputError as err:
    raise WorkflowError(f"bad config: {err}") from None


def crds_file(product, key):
    """The reference file CRDS named for a product's catalog, or None."""
    refs = CRDS_REFERENCES.get(product)
    return refs.files.get(key) if refs else None


def reference_file(key, products=None):
    """A source_catalog reference file as a rule's parameter: the config's path, else the one
    CRDS named for the {product} wildcard's product (``products``, for the multi-band catalog:
    the one CRDS named for all of them), else None."""
    given = config["source_catalog"][key]
    if given:
        return lambda w: given
    if products is not None:
        named = {crds_file(p, key) for p in products}
        common = named.pop() if len(named) == 1 else None
        return lambda w: common
    return lambda w: crds_file(w.product, key)


def reference_input(key, products=None):
    """:func:`reference_file` as a rule's input (none: no input)."""
    choose = reference_file(key, products)
    return lambda w: choose(w) or []


def crds_meta(wildcards):
    """What the product's catalog records of CRDS (context, files or why none)."""
    return CRDS_REFERENCES[wildcards.product].to_meta()


def crds_params(products=None):
    """A catalog rule's ``crds`` parameter when CRDS was asked: :func:`crds_meta` of the {product}
    wildcard's product, or with ``products`` (the multi-band catalog) a list of theirs in that
    order; without CRDS none, so the rule's parameters are those of a run without it."""
    if not CRDS_REFERENCES:
        return {}
    if products is None:
        return {"crds": crds_meta}
    return {"crds": [CRDS_REFERENCES[p].to_meta() for p in products]}


DEMO_REFERENCE_FILES = {
    key: f"{DEMO_DIR}/{name}" for key, name in demo.reference_file_names().items()
}


def simulate_settings(keys):
    """The demo simulator's settings that a rule uses (so others do not trigger it)."""
    return {k: config["simulate"][k] for k in keys}


def intermediate(path):
    """Outlier detection's single images and medians: kept only with save_intermediate_results."""
    return (
        path if config["outlier_detection"]["save_intermediate_results"] else temp(path)
    )


def settings_params(cls, section, *, prefix="", given=None, defaults=()):
    """{field: config[section][prefix + field]} for a settings dataclass's fields, in their order.

    ``given``: {field: value} for fields taken from elsewhere; ``defaults``: fields with no config
    key, left to the dataclass's default. Any other field without a config key is an error.
    """
    given, names = given or {}, [f.name for f in dataclasses.fields(cls)]
    if stray := (set(given) | set(defaults)) - set(names):
        raise WorkflowError(f"{cls.__name__} has no field(s) {sorted(stray)}")
    params = {}
    for name in names:
        key, where = prefix + name, f"{section}.{prefix + name}"
        if name in given:
            params[name] = given[name]
        elif name in defaults:
            if key in config[section]:
                raise WorkflowError(
                    f"config key {where} is set but unused: {cls.__name__}.{name} is left to its default"
                )
        elif key in config[section]:
            params[name] = config[section][key]
        else:
            raise WorkflowError(
                f"config key {where} missing (for {cls.__name__}.{name})"
            )
    return params


# The rules' input and parameter functions, of a job's wildcards.


def get_cal(wildcards):
    return cal_path(wildcards.product, wildcards.exposure)


def get_cals(wildcards):
    return cal_paths(wildcards.product)


def get_exposures(wildcards):
    """The product's exposure names (a tuple)."""
    return PRODUCTS[wildcards.product].exposures


def get_exposure_list(wildcards):
    """The product's exposure names as a list (skymatch's parameter, as it always was)."""
    return list(get_exposures(wildcards))


def get_n_exposures(wildcards):
    return len(get_exposures(wildcards))


def get_asn_table(wildcards):
    return PRODUCTS[wildcards.product].asn_table


def get_asn_pool(wildcards):
    """The association's pool name (ASNPOOL in the products; "" when it names none)."""
    return PRODUCTS[wildcards.product].asn_pool


def get_image3_steps(wildcards):
    """The stage-3 steps the _crf files (and the _i2d, from the first) record, with their status."""
    return {
        "tweakreg": "SKIPPED" if config["tweakreg"]["skip"] else "COMPLETE",
        "outlier_detection": "COMPLETE",
        **({"assign_mtwcs": "COMPLETE"} if wildcards.product in MOVING else {}),
    }


def get_custom_catalog(wildcards):
    """The user's alignment catalog for the exposure, or nothing (tweakreg.use_custom_catalogs)."""
    tw = config["tweakreg"]
    if tw["use_custom_catalogs"] and wildcards.exposure in tw["custom_catalogs"]:
        return tw["custom_catalogs"][wildcards.exposure]
    return []


def get_tweakreg_catalogs(wildcards):
    return [
        tweakreg_catalog_path(wildcards.product, e) for e in get_exposures(wildcards)
    ]


def get_aligned_wcs(wildcards):
    return aligned_wcs_path(wildcards.product)


def get_wcs_set(wildcards):
    return wcs_set_path(wildcards.product)


def get_geometry(wildcards):
    return geometry_path(wildcards.product)


def get_sky(wildcards):
    return sky_path(wildcards.product)


def relayed(path):
    """A per-product file as its per-exposure and per-tile consumers read it: through its relay
    (rules/relay.smk), a hard link that keeps Snakemake's DAG building linear in the members.
    """
    path = Path(path)
    return str(path.parent / "relay" / path.name)


def shared(getter):
    """``getter`` (an input function of a per-product file) through the file's relay."""

    def through_relay(wildcards):
        return relayed(getter(wildcards))

    through_relay.__name__ = f"relayed_{getter.__name__}"
    return through_relay


def median_path(product):
    """Outlier detection's median image of the product (outlier_median's output)."""
    return f"{OUT}/{product}/work/{product}_median.fits"


def get_median(wildcards):
    return median_path(wildcards.product)


def get_grid_geometry(wildcards):
    """resample_grid's geometry: a list of one file (as resample_common_grid's, one per product)."""
    return [geometry_path(wildcards.product)]


def get_grid(wildcards):
    return grid_path(wildcards.product)


def get_singles(wildcards):
    return [single_path(wildcards.product, e) for e in get_exposures(wildcards)]


def get_outlier_mask(wildcards):
    return outlier_mask_path(wildcards.product, wildcards.exposure)


def get_outlier_masks(wildcards):
    return [outlier_mask_path(wildcards.product, e) for e in get_exposures(wildcards)]


def get_drizzled_exposures(wildcards):
    """What a resample job drizzles: its tile's exposures, its one exposure, or the product's."""
    if hasattr(wildcards, "tile"):
        return tile_exposures(wildcards.product, wildcards.tile)
    if hasattr(wildcards, "exposure"):
        return [wildcards.exposure]
    return get_exposures(wildcards)


def get_drizzle_inputs(wildcards):
    """A resample job's inputs: what its exposures' _crf files are made of (each _cal file, its
    outlier mask, the sky levels and, for a moving target, its WCS set's frame), not the _crf files,
    which are written meanwhile; the pixel maps and the grid."""
    product, exposures = wildcards.product, get_drizzled_exposures(wildcards)
    return {
        "cal": [cal_path(product, e) for e in exposures],
        "outliers": [outlier_mask_path(product, e) for e in exposures],
        "sky": relayed(sky_path(product)),
        "mtwcs": relayed(wcs_set_path(product)) if product in MOVING else [],
        "geometry": relayed(geometry_path(product)),
        "grid": grid_path(product),
    }


def get_tile(wildcards):
    """resample_tile's tile: its name and the layout."""
    return {"name": wildcards.tile, "size": TILE_SIZE, "margin": TILES["margin"]}


def get_tile_names(wildcards):
    return tile_names(wildcards.product)


def get_tile_catalogs(wildcards):
    """The catalogs of the product's tiles (source_catalog_tile's), to merge."""
    p = wildcards.product
    return [catalog_paths(f"{p}_{t}", p)["cat"] for t in tile_names(p)]


def demo_artefact_look():
    """The demo's first exposure and its artefacts' truth (the real-sky QA figure's input)."""
    (product,) = PRODUCTS.values()
    name = Path(product.members[0]).name.removesuffix("_cal.fits")
    return {
        "cal": f"{DEMO_DIR}/{name}_cal.fits",
        "artefacts": f"{DEMO_DIR}/truth/{name}_artefacts.fits",
    }


def all_products():
    """Every final product of the run (and, for the demo, its association file)."""
    files = []
    if IS_DEMO:
        files += [f"{DEMO_DIR}/{demo.association_name()}"]
        files += list(DEMO_REFERENCE_FILES.values())
        if config["simulate"]["artefacts"]:
            (product,) = PRODUCTS
            files += [qa_path(product, "artefacts")]
    files += [refused_path(name) for name in REFUSED]
    for product in PRODUCTS:
        files += crf_paths(product) + exposure_i2d_paths(product)
        # a tiled product: the tiles (through the merged catalog), their index and figure
        if product in TILED:
            files += [catalog_paths(product, product)[k] for k in ("cat", "regions")]
            files += [tile_index_path(product)]
            qa = ("tweakreg", "skymatch", "outliers", "tiles")
        else:
            files += [i2d_path(product), *catalog_paths(product, product).values()]
            qa = ("i2d", "tweakreg", "skymatch", "outliers", "cat")
        files += [qa_path(product, name) for name in qa]
    if MULTIBAND:
        files += catalog_paths("multiband", "multiband").values()
    return files


def start_job_server():
    """Local runs: start the warm job server the job scripts hand themselves to (config job_server).

    Snakemake then sends its script jobs to the server itself (no Python started per job). Jobs on
    a cluster run elsewhere, in their own Python; they never see it. The run's log says when the
    server or Snakemake's hook is not engaged for a reason the user can act on
    (image3/job_server.py, engage).
    """
    if config["job_server"]:
        job_server.engage(workflow, f"{OUT}/logs/job_server.log")


def end_of_run():
    """onsuccess/onerror: let Snakemake exit as soon as the run is over.

    While jobs run, Snakemake's scheduler re-arms a one-second ``threading.Timer`` (its job-rate
    limiter's re-evaluation), and the interpreter waits for such timers before it exits: up to a
    second after the last job, on every run. No job is left to schedule: cancel them.
    """
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.cancel()
