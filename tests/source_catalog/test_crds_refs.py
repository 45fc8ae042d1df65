"""The source catalog's reference files from a CRDS cache (image3/source_catalog/crds_refs.py), offline,
against a small cache each test writes: rules in the official layout (a .pmap, NIRCam's .imap and
APCORR / ABVEGAOFFSET .rmaps selecting by exposure type and date, as the official ones) and the
simulator's reference files for the demo's PSF."""

import subprocess
import sys
import textwrap

import pytest
from astropy.table import Table
from crds_cache import ABVEGAOFFSET, APCORR, CONTEXT, write_cache
from workflow_helpers import PRODUCT, copy_workdir, executed_jobs, snakemake

from image3.simulate.reference_files import ABVEGA_OFFSETS
from image3.source_catalog.crds_refs import crds_parameters

crds = pytest.importorskip("crds", reason="the crds client (pip install -e '.[crds]', in the test extra)")

# The demo's mosaic as CRDS sees it (rules/common.smk's demo_reference_headers).
PARAMETERS = {
    "META.INSTRUMENT.NAME": "NIRCAM",
    "META.INSTRUMENT.DETECTOR": "NRCA1",
    "META.INSTRUMENT.FILTER": "F150W",
    "META.INSTRUMENT.PUPIL": "CLEAR",
    "META.EXPOSURE.TYPE": "NRC_IMAGE",
    "META.OBSERVATION.DATE": "2026-11-24",
    "META.OBSERVATION.TIME": "00:00:00",
}


def _catalog(workdir):
    return Table.read(workdir / "results" / PRODUCT / f"{PRODUCT}_cat.ecsv")


def test_parameters_of_a_mosaic_as_its_header():
    """One value per keyword where the members agree, DETECTOR MULTIPLE where they differ, the
    earliest start."""
    headers = [
        {"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "FILTER": "F150W", "PUPIL": "CLEAR",
         "EXP_TYPE": "NRC_IMAGE", "DATE-OBS": "2026-11-24", "TIME-OBS": "01:00:00"},
        {"INSTRUME": "NIRCAM", "DETECTOR": "NRCA3", "FILTER": "F150W", "PUPIL": "CLEAR",
         "EXP_TYPE": "NRC_IMAGE", "DATE-OBS": "2026-11-23", "TIME-OBS": "23:00:00"},
    ]  # fmt: skip
    assert crds_parameters(headers) == {
        "META.INSTRUMENT.NAME": "NIRCAM",
        "META.INSTRUMENT.DETECTOR": "MULTIPLE",
        "META.INSTRUMENT.FILTER": "F150W",
        "META.INSTRUMENT.PUPIL": "CLEAR",
        "META.EXPOSURE.TYPE": "NRC_IMAGE",
        "META.OBSERVATION.DATE": "2026-11-23",
        "META.OBSERVATION.TIME": "23:00:00",
    }


def test_without_crds_path_nothing_is_imported(monkeypatch):
    """CRDS_PATH unset: no lookup and no import of the crds client when the workflow loads."""
    monkeypatch.delenv("CRDS_PATH", raising=False)
    code = textwrap.dedent("""
        import sys
        from image3.source_catalog.crds_refs import best_references
        assert best_references({"META.INSTRUMENT.NAME": "NIRCAM"}) is None
        assert "crds" not in sys.modules
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.workflow
def test_catalog_takes_the_cache_files(demo, tmp_path, monkeypatch):
    """No apcorr / abvegaoffset in the config and a CRDS cache: the catalog uses the cache's files
    (only the catalog reruns), its metadata and the log name them and the context. Without the
    cache (the demo): apertures from the curve of growth, abvega_offset 0."""
    assert _catalog(demo).meta["abvega_offset"] == 0.0
    assert _catalog(demo).meta["aperture_origin"].startswith("curve of growth")
    cache = write_cache(tmp_path / "crds", monkeypatch, references=demo / "demo")
    work = copy_workdir(demo, tmp_path / "work")
    result = snakemake(work, f"results/{PRODUCT}/{PRODUCT}_cat.ecsv")
    assert executed_jobs(result) == {"source_catalog": 1}
    refs = cache / "references/jwst/nircam"
    apcorr, abvega = refs / APCORR, refs / ABVEGAOFFSET
    line = f"source_catalog {PRODUCT}: CRDS (context {CONTEXT}): apcorr {apcorr}; abvegaoffset {abvega}"
    assert line in result.stderr
    meta = _catalog(work).meta
    assert meta["crds_context"] == CONTEXT
    assert (meta["crds_apcorr"], meta["crds_abvegaoffset"]) == (APCORR, ABVEGAOFFSET)
    assert meta["aperture_origin"] == f"APCORR {apcorr}"
    assert meta["abvega_offset"] == pytest.approx(ABVEGA_OFFSETS["F150W"])
    log = (work / "results/logs" / PRODUCT / "source_catalog.log").read_text()
    assert f"'crds_context': '{CONTEXT}'" in log


@pytest.mark.workflow
def test_no_match_falls_back(demo, tmp_path, monkeypatch):
    """Rules without a match for the demo's exposure type: the catalog job runs as without CRDS (no
    reference file input or parameter), and the load says so and why."""
    write_cache(tmp_path / "crds", monkeypatch, exp_type="NRC_TSIMAGE")
    result = snakemake(demo, "-n", "--printshellcmds")
    text = result.stdout + result.stderr
    for reftype in ("apcorr", "abvegaoffset"):
        line = f"{reftype} falls back (no match: parameter='META.EXPOSURE.TYPE' value='NRC_IMAGE' is not in"
        assert line in text
    catalog_job = text.split("rule source_catalog:", 1)[1].split("\n\n", 1)[0]
    assert "crds" not in catalog_job.split("output:", 1)[0]  # only the mosaic as input


@pytest.mark.workflow
def test_without_crds_nothing_changes(demo, monkeypatch):
    """CRDS_PATH unset: nothing to do in the finished demo, and no word of CRDS."""
    monkeypatch.delenv("CRDS_PATH", raising=False)
    result = snakemake(demo, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr
    assert "CRDS" not in result.stdout + result.stderr


@pytest.mark.workflow
def test_broken_cache_stops_the_workflow_with_one_line(demo, tmp_path, monkeypatch):
    """A configured cache with broken rules stops the workflow's load with one line naming
    CRDS_PATH and what is wrong, no traceback."""
    cache = write_cache(tmp_path / "crds", monkeypatch)
    with open(cache / "mappings/jwst/jwst_nircam_apcorr_0001.rmap", "a") as rmap:
        rmap.write("selector = Match({(\n")
    result = snakemake(demo, "-n", check=False)
    text = result.stdout + result.stderr
    assert result.returncode != 0
    says = f"apcorr lookup in {CONTEXT} failed (Can't load file jwst_nircam_apcorr_0001.rmap"
    assert f"bad config: CRDS_PATH = {cache}: {says}" in text
    assert "Traceback" not in text


@pytest.mark.parametrize(
    ("breakage", "says"),
    [
        ("no_config", "no CRDS configuration for jwst, and no server (no config/jwst/server_config)"),
        ("no_context", f"context {CONTEXT} is not in the cache (mappings/jwst), and no server"),
        ("bad_checksum", f"apcorr lookup in {CONTEXT} failed (sha1sum mismatch"),
        ("no_reference", f"abvegaoffset reference file {ABVEGAOFFSET} of {CONTEXT} is not in the cache"),
    ],
)
def test_broken_cache_says_what_is_wrong(tmp_path, monkeypatch, breakage, says):
    """Each way a configured cache can be broken is an InputError naming CRDS_PATH and the fault
    (in a process of its own: the crds client keeps its configuration per process)."""
    cache = write_cache(tmp_path / "crds", monkeypatch)
    if breakage == "no_config":
        (cache / "config/jwst/server_config").unlink()
    elif breakage == "no_context":
        (cache / "mappings/jwst" / CONTEXT).unlink()
    elif breakage == "bad_checksum":
        rmap = cache / "mappings/jwst/jwst_nircam_apcorr_0001.rmap"
        rmap.write_text(rmap.read_text().replace("2014-01-01", "2015-01-01"))
    else:
        (cache / "references/jwst/nircam" / ABVEGAOFFSET).unlink()
    code = textwrap.dedent(f"""
        from image3.errors import InputError
        from image3.source_catalog.crds_refs import best_references
        try:
            best_references({PARAMETERS!r})
        except InputError as err:
            print(err)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("CRDS_PATH = ")
    assert says in out
