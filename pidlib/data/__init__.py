"""Multiple-choice samples: the schema (:mod:`pidlib.data.schema`), the loaders for the
native dataset formats (:mod:`pidlib.data.loaders`: one module per format sharing
:mod:`pidlib.data.common`) and the content identity of a run's data
(:mod:`pidlib.data.identity`)."""
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
    parse_spec,
)
