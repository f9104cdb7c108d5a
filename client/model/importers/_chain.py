"""Shared tail of the layer-chain importers (ONNX graphs, torch Sequential)."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import UnsupportedModelError
from ..ir import Activation, ActivationLayer, FloatModel, Head, Layer


def finish_chain(
    layers: list[Layer],
    head: Head,
    width: int,
    n_features: int,
    labels: Sequence[int | str] | None,
    task: str | None,
    name: str,
    source: str,
) -> FloatModel:
    """Pick the head: a final Softmax or one-unit Sigmoid makes a classifier (the activation
    itself becomes the head), ``labels`` or ``task="classification"`` make the logits one."""
    last = layers[-1]
    ends_sigmoid = isinstance(last, ActivationLayer) and last.kind is Activation.SIGMOID
    if task is None:
        if head is Head.SOFTMAX or labels is not None or (ends_sigmoid and width == 1):
            task = "classification"
        else:
            task = "regression"
    if task == "classification":
        if ends_sigmoid:
            if width != 1:
                raise UnsupportedModelError(
                    f"a final Sigmoid over {width} outputs (multilabel) is not supported"
                )
            layers = layers[:-1]
            head = Head.LOGISTIC
        else:
            head = Head.LOGISTIC if width == 1 else Head.SOFTMAX
        n_classes = 2 if head is Head.LOGISTIC else width
        lab = tuple(labels) if labels is not None else tuple(range(n_classes))
        if len(lab) != n_classes:
            raise UnsupportedModelError(f"{len(lab)} labels given for {n_classes} classes")
    elif task == "regression":
        if head is Head.SOFTMAX:
            raise UnsupportedModelError("a model ending in Softmax cannot be a regressor")
        lab = ()
    else:
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    return FloatModel(n_features, tuple(layers), head, lab, name=name, source=source)
