"""Pure file handling: readers (file -> ImportedData), featurizers (ImportedData -> float32
matrix), label sets and exporters (table -> file). Nothing here touches the database."""

from annotator.io.dataset import DataKind, ImportedData
from annotator.io.exporters import EXPORT_FORMATS, write_export
from annotator.io.featurizers import (
    AUTO,
    FEATURIZERS,
    VALID,
    Featurizer,
    check_featurizer,
    choose_featurizer,
    featurizer_available,
    load_featurizer,
    make_featurizer,
)
from annotator.io.labels import resolve_label_set
from annotator.io.readers import DEFAULT_MAX_BYTES, content_hash, content_hashes, read_input

__all__ = [
    "AUTO",
    "DEFAULT_MAX_BYTES",
    "EXPORT_FORMATS",
    "FEATURIZERS",
    "VALID",
    "DataKind",
    "Featurizer",
    "ImportedData",
    "content_hash",
    "content_hashes",
    "featurizer_available",
    "load_featurizer",
    "make_featurizer",
    "read_input",
    "check_featurizer",
    "choose_featurizer",
    "resolve_label_set",
    "write_export",
]
