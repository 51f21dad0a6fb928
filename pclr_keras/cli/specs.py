"""`NAME=FILE` and `column:kind` arguments, as the evaluation commands read them."""

from pathlib import Path


def named_tables(specs):
    """["PCLR=pclr.parquet", "random=r.parquet"] -> {"PCLR": ..., "random": ...}."""
    tables = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        tables[name if sep else Path(spec).stem] = path if sep else spec
    return tables


def parse_targets(specs, default="binary"):
    """["sex:binary", "age:continuous"] -> {"sex": "binary", "age": "continuous"}."""
    targets = {}
    for spec in specs:
        column, _, kind = spec.partition(":")
        targets[column] = kind or default
    return targets
