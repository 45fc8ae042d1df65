"""A small CRDS cache for tests, written in the official layout: a .pmap, NIRCam's .imap and
APCORR / ABVEGAOFFSET .rmaps selecting by exposure type and date, as the official ones, with the
reference files of a folder (the simulator's for its PSF). Needs the crds client (the test extra)."""

from image3.simulate import demo as demo_names

CONTEXT = "jwst_0001.pmap"
APCORR = "jwst_nircam_apcorr_0001.fits"
ABVEGAOFFSET = "jwst_nircam_abvegaoffset_0001.asdf"

_PMAP = """
header = {
    'derived_from' : 'written by the test',
    'mapping' : 'PIPELINE',
    'name' : 'jwst_0001.pmap',
    'observatory' : 'JWST',
    'parkey' : ('META.INSTRUMENT.NAME',),
    'sha1sum' : 'none',
}

selector = {
    'NIRCAM' : 'jwst_nircam_0001.imap',
}
"""
_IMAP = """
header = {
    'derived_from' : 'written by the test',
    'instrument' : 'NIRCAM',
    'mapping' : 'INSTRUMENT',
    'name' : 'jwst_nircam_0001.imap',
    'observatory' : 'JWST',
    'parkey' : ('REFTYPE',),
    'sha1sum' : 'none',
}

selector = {
    'abvegaoffset' : 'jwst_nircam_abvegaoffset_0001.rmap',
    'apcorr' : 'jwst_nircam_apcorr_0001.rmap',
}
"""
_RMAP = """
header = {{
    'classes' : ('Match', 'UseAfter'),
    'derived_from' : 'written by the test',
    'filekind' : '{kind}',
    'instrument' : 'NIRCAM',
    'mapping' : 'REFERENCE',
    'name' : 'jwst_nircam_{reftype}_0001.rmap',
    'observatory' : 'JWST',
    'parkey' : (('META.EXPOSURE.TYPE',), ('META.OBSERVATION.DATE', 'META.OBSERVATION.TIME')),
    'sha1sum' : 'none',
}}

selector = Match({{
    '{exp_type}' : UseAfter({{
        '2014-01-01 00:00:00' : '{file}',
    }}),
}})
"""
_SERVER_CONFIG = {
    "observatory": "jwst",
    "operational_context": CONTEXT,
    "latest_context": CONTEXT,
    "edit_context": CONTEXT,
    "bad_files_list": [],
    "force_remote_mode": False,
    "last_synced": "2026-12-01 00:00:00",
}


def write_cache(root, monkeypatch, exp_type="NRC_IMAGE", references=None):
    """A CRDS cache at ``root`` whose rules give NIRCam ``exp_type`` exposures an APCORR and an
    ABVEGAOFFSET file: the demo's (the simulator's for its PSF) from the demo folder
    ``references``, else empty files; CRDS_PATH points to it, no server."""
    monkeypatch.setenv("CRDS_PATH", str(root))
    monkeypatch.delenv("CRDS_SERVER_URL", raising=False)
    monkeypatch.delenv("CRDS_CONTEXT", raising=False)
    mappings, refs, cfg = root / "mappings/jwst", root / "references/jwst/nircam", root / "config/jwst"
    for folder in (mappings, refs, cfg):
        folder.mkdir(parents=True)
    (cfg / "server_config").write_text(repr(_SERVER_CONFIG))
    (cfg / "ref_cache_subdir_mode").write_text("instrument")
    texts = {"jwst_0001.pmap": _PMAP, "jwst_nircam_0001.imap": _IMAP}
    for reftype, file in (("apcorr", APCORR), ("abvegaoffset", ABVEGAOFFSET)):
        texts[f"jwst_nircam_{reftype}_0001.rmap"] = _RMAP.format(
            kind=reftype.upper(), reftype=reftype, exp_type=exp_type, file=file
        )
    from crds.refactoring.checksum import update_checksum

    for name, text in texts.items():
        (mappings / name).write_text(text.lstrip())
        update_checksum(str(mappings / name))
    for name, key in ((APCORR, "apcorr"), (ABVEGAOFFSET, "abvegaoffset")):
        source = references / demo_names.reference_file_names()[key] if references else None
        (refs / name).write_bytes(source.read_bytes() if source else b"")
    return root
