"""A NIRCam-like imaging simulator that writes official level-2b files and knows the truth.

The truth (injected pointing errors, sky levels, cosmic rays and sources) is what the tests hold the
pipeline against.
"""
