"""Multiple-choice samples: the schema (:mod:`pidlib.data.schema`) and the loaders for the
native dataset formats (:mod:`pidlib.data.loaders`)."""
from pidlib.data.schema import (  # noqa: F401
    K_MAX,
    LETTERS,
    DEFAULT_INSTRUCTION,
    DatasetError,
    ImageRef,
    MCSample,
    MCDataset,
    SkippedRow,
    format_question,
)
from pidlib.data.loaders import (  # noqa: F401
    load_dataset,
    register_format,
    available_formats,
    DatasetBuilder,
)
