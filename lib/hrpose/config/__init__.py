"""Configuration: ``get_cfg()`` clones the defaults; ``load_cfg()`` merges a yaml and overrides, freezes."""

from .loading import ConfigError, cfg_from_string, flatten_cfg, get_cfg, load_cfg, resolve_path

__all__ = ["ConfigError", "cfg_from_string", "flatten_cfg", "get_cfg", "load_cfg", "resolve_path"]
