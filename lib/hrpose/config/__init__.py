"""Configuration: ``get_cfg()`` clones the defaults; ``load_cfg()`` merges a yaml and overrides, freezes."""

from .loading import ConfigError, get_cfg, load_cfg, resolve_path

__all__ = ["ConfigError", "get_cfg", "load_cfg", "resolve_path"]
