"""lb's own annotations: the registry (registry.py), shared parsers (parsers.py) and one
module per feature declaring its annotations."""
from lb.config.annotations.registry import (ENDPOINT_SLICE, ENDPOINTS, NO_OPTIONS, POD, PREFIX, SERVICE,
                                            Annotation, annotation_path, known, parse_annotations, register)
from lb.config.annotations import scheduling  # noqa: F401,E402  (declarations)

__all__ = ["ENDPOINT_SLICE", "ENDPOINTS", "NO_OPTIONS", "POD", "PREFIX", "SERVICE", "Annotation",
           "annotation_path", "known", "parse_annotations", "register"]
