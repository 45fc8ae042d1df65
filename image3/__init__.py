"""JWST imaging stage 3 (calwebb_image3) as a library, one subpackage per step.

``tweakreg``, ``assign_mtwcs``, ``skymatch``, ``outlier_detection``, ``resample``,
``exposure_products`` (the ``_crf`` files), ``source_catalog`` and ``tiles`` (survey tiles); shared
``io`` (files), ``wcs`` (world coordinates) and ``utils``; ``simulate`` (the test data's simulator);
``jobs`` and ``job_server`` (how the workflow's scripts run). Each step's settings dataclasses live in
its light ``settings`` module, which the workflow's rules read when it loads.
"""
