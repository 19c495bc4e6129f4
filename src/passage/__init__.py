"""Passage: practical cooperation on migration between governments and IOM."""

__version__ = "0.1.0"

MODULES: tuple[str, ...] = (
    "security",
    "readmission",
    "identity",
    "biometrics",
    "avrr",
    "forms",
    "dtm",
    "mobility",
    "dialogue",
    "home",
    "web",
)
"""Packages that may contribute models, routers, views, CLI commands and message catalogues."""
