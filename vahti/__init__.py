"""vahti: leak monitor for sensitive personal data (CLI, configuration and wiring)."""

__version__ = "0.6.0"  # CHANGELOG.md; recorded in the database meta (vahti_version)

# In a source checkout the parts that an installed vahti holds as subpackages
# (vahti.matchers, vahti.storage, ...) sit at the repository's top level (see
# pyproject's package-dir): let this package's path reach them there too.
_checkout = __import__("pathlib").Path(__file__).resolve().parent.parent
if (_checkout / "pyproject.toml").is_file() and (_checkout / "matchers" / "engine.py").is_file():
    __path__.append(str(_checkout))
del _checkout
