"""The run configuration: the schema (every key, its type, default, range and meaning), the
rules it is written with, and the checks a composed config goes through before any work.

    from sgns.config.check import checked      # also registers the schema with Hydra
    conf = checked(cfg)                         # a plain dict, or one line of ConfigError
"""
