"""Accuracy of quantized models against their float originals on bundled datasets.

``accuracy_report()`` trains every supported model type on iris, wine, breast_cancer and digits
(scikit-learn's bundled copies, fixed seeds, 70/30 stratified split), compiles it at INT8 and
INT16 and measures float accuracy, quantized accuracy, top-1 agreement and model bytes on the
test split; regressors are measured on the bundled diabetes data.  ``register`` adds the
``accuracy`` sub-command to the project CLI.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .autoprecision import compile_auto
from .compiler import compile_model
from .format import encode, payload_bytes
from .importers import import_sklearn
from .qmodel import QDense, QModel
from .reference import clip_to_range, execute, features_to_q16, out_of_range

SEED = 0
CLASSIFICATION_DATASETS = ("iris", "wine", "breast_cancer", "digits")
CLASSIFIERS = ("decision_tree", "random_forest", "gradient_boosting", "mlp", "logistic_regression")
REGRESSORS = (
    "linear_regression",
    "mlp_regressor",
    "decision_tree_regressor",
    "random_forest_regressor",
    "gradient_boosting_regressor",
)
TREE_MODELS = {
    "decision_tree",
    "random_forest",
    "gradient_boosting",
    "decision_tree_regressor",
    "random_forest_regressor",
    "gradient_boosting_regressor",
}
# Trees read raw Q16.16 features: weight precision does not apply to them.
TREE_PRECISION = "q16.16"
TARGET_AGREEMENT = 0.99
# "auto" keeps INT8 wherever it can, so it is held to the INT8 target.
TARGET_DROP_PP = {"int8": 1.0, "int16": 0.2, "auto": 1.0, TREE_PRECISION: 1.0}
TARGET_R2_GAP = 0.01  # regressors: quantized R² within 0.01 of the float model's
PRECISIONS: tuple[int | str, ...] = (8, 16, "auto")
# The generated suite: random MLP architectures on generated data.
GENERATED_MODELS = 16
# Declared input domain of datasets whose features have a natural range.
NATURAL_RANGE = {"digits": (0.0, 16.0)}


@dataclass(frozen=True)
class AccuracyRow:
    dataset: str
    model: str
    precision: str
    float_accuracy: float
    quant_accuracy: float
    agreement: float  # top-1 agreement quantized vs float on the test split
    drop_pp: float  # float_accuracy - quant_accuracy, percentage points
    model_bytes: int  # whole v1 file
    payload_bytes: int  # op arrays only (docs/model-format.md)
    n_test: int
    n_clipped: int  # test rows with a feature outside the declared range (clipped)
    layers: str = ""  # per-dense-layer precision ("int16/int8/int8"), "" for trees

    @property
    def meets_targets(self) -> bool:
        return (
            self.agreement >= TARGET_AGREEMENT
            and self.drop_pp <= TARGET_DROP_PP[self.precision] + 1e-9
        )


@dataclass(frozen=True)
class RegressionRow:
    dataset: str
    model: str
    precision: str
    float_r2: float  # R² on the test split (averaged over outputs for multi-output models)
    quant_r2: float
    mean_abs_diff: float  # |quantized - float| averaged over the test split, target units
    max_abs_diff: float
    model_bytes: int
    payload_bytes: int
    n_test: int
    n_clipped: int
    float_mae: float = 0.0  # mean absolute error against the truth
    quant_mae: float = 0.0
    n_outputs: int = 1
    layers: str = ""

    @property
    def meets_targets(self) -> bool:
        return abs(self.quant_r2 - self.float_r2) <= TARGET_R2_GAP


@dataclass(frozen=True)
class AccuracyReport:
    rows: list[AccuracyRow]
    regression: list[RegressionRow] = field(default_factory=list)
    iris_mlp_int8_payload_bytes: int = 0
    iris_mlp_int8_file_bytes: int = 0
    seconds: float = 0.0

    def status(self, r: AccuracyRow | RegressionRow) -> str:
        """ "met"; "auto" when an INT8 row misses but the same model's auto row meets (what
        `compile --precision auto` would build); "missed" otherwise."""
        if r.meets_targets:
            return "met"
        rows: list[Any] = self.rows if isinstance(r, AccuracyRow) else self.regression
        if r.precision == "int8" and any(
            o.dataset == r.dataset
            and o.model == r.model
            and o.precision == "auto"
            and o.meets_targets
            for o in rows
        ):
            return "auto"
        return "missed"

    @property
    def all_met(self) -> bool:
        rows: list[AccuracyRow | RegressionRow] = [*self.rows, *self.regression]
        return all(self.status(r) != "missed" for r in rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": [
                asdict(r) | {"meets_targets": r.meets_targets, "status": self.status(r)}
                for r in self.rows
            ],
            "regression": [
                asdict(r) | {"meets_targets": r.meets_targets, "status": self.status(r)}
                for r in self.regression
            ],
            "all_met": self.all_met,
            "iris_mlp_int8_payload_bytes": self.iris_mlp_int8_payload_bytes,
            "iris_mlp_int8_file_bytes": self.iris_mlp_int8_file_bytes,
            "seconds": round(self.seconds, 1),
            "targets": {
                "agreement": TARGET_AGREEMENT,
                "drop_pp": TARGET_DROP_PP,
                "r2_gap": TARGET_R2_GAP,
            },
        }


def _load(name: str) -> tuple[NDArray[np.float64], NDArray[Any]]:
    from sklearn import datasets

    loaders: dict[str, Callable[..., Any]] = {
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "digits": datasets.load_digits,
        "diabetes": datasets.load_diabetes,
    }
    if name not in loaders:
        raise ValueError(f"unknown dataset {name!r}; choose from {sorted(loaders)}")
    x, y = loaders[name](return_X_y=True)
    return np.asarray(x, dtype=np.float64), np.asarray(y)


def make_estimator(model: str, dataset: str) -> Any:
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    hidden = (8,) if dataset == "iris" else (32,)
    factories: dict[str, Callable[[], Any]] = {
        "decision_tree": lambda: DecisionTreeClassifier(random_state=SEED),
        "random_forest": lambda: RandomForestClassifier(100, random_state=SEED),
        "gradient_boosting": lambda: GradientBoostingClassifier(random_state=SEED),
        "mlp": lambda: make_pipeline(
            StandardScaler(), MLPClassifier(hidden, max_iter=2000, random_state=SEED)
        ),
        "logistic_regression": lambda: make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=5000)
        ),
        "linear_regression": LinearRegression,
        "mlp_regressor": lambda: make_pipeline(
            StandardScaler(),
            MLPRegressor(
                hidden_layer_sizes=(32,), max_iter=5000, learning_rate_init=0.01, random_state=SEED
            ),
        ),
        "decision_tree_regressor": lambda: DecisionTreeRegressor(max_depth=6, random_state=SEED),
        "random_forest_regressor": lambda: RandomForestRegressor(
            100, max_depth=8, random_state=SEED
        ),
        "gradient_boosting_regressor": lambda: GradientBoostingRegressor(random_state=SEED),
    }
    if model not in factories:
        raise ValueError(f"unknown model type {model!r}; choose from {sorted(factories)}")
    return factories[model]()


@dataclass(frozen=True)
class _Split:
    x_train: NDArray[np.float64]
    x_test: NDArray[np.float64]
    y_train: NDArray[Any]
    y_test: NDArray[Any]


def _split(dataset: str, stratify: bool) -> _Split:
    from sklearn.model_selection import train_test_split

    x, y = _load(dataset)
    a, b, c, d = train_test_split(
        x, y, test_size=0.3, random_state=SEED, stratify=y if stratify else None
    )
    return _Split(a, b, c, d)


def _precisions(model: str, precisions: Sequence[int | str]) -> list[int | str | None]:
    return [None] if model in TREE_MODELS else list(precisions)


def _precision_name(precision: int | str | None) -> str:
    if precision is None:
        return TREE_PRECISION
    return "auto" if precision == "auto" else f"int{precision}"


def _layers(qm: QModel) -> str:
    return "/".join(f"int{8 * op.dtype.nbytes}" for op in qm.ops if isinstance(op, QDense))


def _compile(
    fm: Any, x_train: NDArray[np.float64], precision: int | str | None, input_range: Any
) -> QModel:
    if precision == "auto":
        return compile_auto(fm, x_train, input_range=input_range).qmodel
    return compile_model(fm, x_train, precision or 8, input_range=input_range)


def _quantized_run(
    fm: Any, split: _Split, dataset: str, precision: int | str | None
) -> tuple[Any, Any, int]:
    qm = _compile(fm, split.x_train, precision, NATURAL_RANGE.get(dataset))
    x_fx = features_to_q16(split.x_test)
    n_clipped = int(out_of_range(qm.input, x_fx).any(axis=1).sum())
    trace = execute(qm, clip_to_range(qm, x_fx))
    return qm, trace, n_clipped


def evaluate_classifier(
    dataset: str, model: str, precisions: Sequence[int | str] = PRECISIONS
) -> list[AccuracyRow]:
    split = _split(dataset, stratify=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = make_estimator(model, dataset).fit(split.x_train, split.y_train)
    return _classifier_rows(est, split, dataset, model, precisions)


def _classifier_rows(
    est: Any, split: _Split, dataset: str, model: str, precisions: Sequence[int | str]
) -> list[AccuracyRow]:
    fm = import_sklearn(est)
    float_pred = fm.forward(split.x_test).classes
    classes = np.asarray(est.classes_)
    y_idx = np.searchsorted(classes, split.y_test)
    float_acc = float((float_pred == y_idx).mean())
    rows = []
    for precision in _precisions(model, precisions):
        qm, trace, n_clipped = _quantized_run(fm, split, dataset, precision)
        quant_acc = float((trace.classes == y_idx).mean())
        rows.append(
            AccuracyRow(
                dataset=dataset,
                model=model,
                precision=_precision_name(precision),
                float_accuracy=float_acc,
                quant_accuracy=quant_acc,
                agreement=float((trace.classes == float_pred).mean()),
                drop_pp=100.0 * (float_acc - quant_acc),
                model_bytes=len(encode(qm)),
                payload_bytes=payload_bytes(qm),
                n_test=int(split.x_test.shape[0]),
                n_clipped=n_clipped,
                layers=_layers(qm),
            )
        )
    return rows


def _r2(y: NDArray[np.float64], pred: NDArray[np.float64]) -> float:
    """R² averaged uniformly over outputs (scikit-learn's default for multi-output)."""
    y2, p2 = y.reshape(len(y), -1), pred.reshape(len(pred), -1)
    ss = ((y2 - y2.mean(axis=0)) ** 2).sum(axis=0)
    return float(np.mean(1.0 - ((y2 - p2) ** 2).sum(axis=0) / ss))


def evaluate_regressor(
    dataset: str, model: str, precisions: Sequence[int | str] = PRECISIONS
) -> list[RegressionRow]:
    split = _split(dataset, stratify=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = make_estimator(model, dataset).fit(split.x_train, split.y_train)
    return _regressor_rows(est, split, dataset, model, precisions)


def _regressor_rows(
    est: Any, split: _Split, dataset: str, model: str, precisions: Sequence[int | str]
) -> list[RegressionRow]:
    fm = import_sklearn(est)
    float_pred = fm.forward(split.x_test).outputs
    y = split.y_test.astype(np.float64).reshape(len(split.y_test), -1)
    rows = []
    for precision in _precisions(model, precisions):
        qm, trace, n_clipped = _quantized_run(fm, split, dataset, precision)
        quant_pred = trace.outputs.astype(np.float64) * 2.0**-qm.out_frac_bits
        diff = np.abs(quant_pred - float_pred)
        rows.append(
            RegressionRow(
                dataset=dataset,
                model=model,
                precision=_precision_name(precision),
                float_r2=_r2(y, float_pred),
                quant_r2=_r2(y, quant_pred),
                mean_abs_diff=float(diff.mean()),
                max_abs_diff=float(diff.max()),
                model_bytes=len(encode(qm)),
                payload_bytes=payload_bytes(qm),
                n_test=int(y.shape[0]),
                n_clipped=n_clipped,
                float_mae=float(np.abs(float_pred - y).mean()),
                quant_mae=float(np.abs(quant_pred - y).mean()),
                n_outputs=int(y.shape[1]),
                layers=_layers(qm),
            )
        )
    return rows


def _generated_split(x: NDArray[np.float64], y: NDArray[Any], stratify: bool) -> _Split:
    from sklearn.model_selection import train_test_split

    a, b, c, d = train_test_split(
        x, y, test_size=0.3, random_state=SEED, stratify=y if stratify else None
    )
    return _Split(a, b, c, d)


def generated_suite(
    n_models: int = GENERATED_MODELS, precisions: Sequence[int | str] = PRECISIONS
) -> tuple[list[AccuracyRow], list[RegressionRow]]:
    """Random MLP architectures (1-4 hidden layers, relu/tanh/sigmoid, widths 1-128, seeded)
    on generated classification and regression data (1-3 regression targets), plus
    multi-output linear regression."""
    from sklearn.datasets import make_classification, make_regression
    from sklearn.linear_model import LinearRegression
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(SEED + 13)
    cls_rows: list[AccuracyRow] = []
    reg_rows: list[RegressionRow] = []
    for k in range(n_models):
        depth = int(rng.integers(1, 5))
        widths = tuple(round(2 ** rng.uniform(0, 7)) for _ in range(depth))
        act = ["relu", "tanh", "logistic"][int(rng.integers(0, 3))]
        n_features = int(rng.integers(3, 31))
        seed = int(rng.integers(0, 2**31))
        arch = f"mlp {'-'.join(str(w) for w in widths)} {act}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if k % 2 == 0:
                n_classes = int(rng.integers(2, 6))
                x, y = make_classification(
                    1000,
                    n_features,
                    n_informative=max(2, n_features // 2),
                    n_redundant=0,
                    n_classes=n_classes,
                    n_clusters_per_class=1,
                    random_state=seed,
                )
                split = _generated_split(x, y, True)
                est = make_pipeline(
                    StandardScaler(),
                    MLPClassifier(widths, activation=act, max_iter=400, random_state=SEED),
                ).fit(split.x_train, split.y_train)
                dataset = f"gen{k} {n_features}f {n_classes}c"
                cls_rows += _classifier_rows(est, split, dataset, arch, precisions)
            else:
                n_targets = int(rng.integers(1, 4))
                x, y = make_regression(
                    1000,
                    n_features,
                    n_informative=n_features,
                    n_targets=n_targets,
                    noise=5.0,
                    random_state=seed,
                )
                y = y / np.abs(y).max()  # targets of order 1 (the MLP trains on them as is)
                split = _generated_split(x, y, False)
                est = make_pipeline(
                    StandardScaler(),
                    MLPRegressor(
                        hidden_layer_sizes=widths,
                        activation=act,
                        max_iter=600,
                        learning_rate_init=0.01,
                        random_state=SEED,
                    ),
                ).fit(split.x_train, split.y_train)
                dataset = f"gen{k} {n_features}f {n_targets}t"
                reg_rows += _regressor_rows(est, split, dataset, arch, precisions)
                if n_targets > 1:
                    lin = LinearRegression().fit(split.x_train, split.y_train)
                    reg_rows += _regressor_rows(
                        lin, split, dataset, "linear_regression", precisions
                    )
    return cls_rows, reg_rows


def accuracy_report(
    datasets: Sequence[str] = CLASSIFICATION_DATASETS,
    models: Sequence[str] = CLASSIFIERS,
    precisions: Sequence[int | str] = PRECISIONS,
    *,
    regression: bool = True,
    generated: int = GENERATED_MODELS,
) -> AccuracyReport:
    """Train, compile and score every (dataset, model type, precision) combination, then the
    generated suite of ``generated`` random MLPs."""
    start = time.perf_counter()
    rows = [row for d in datasets for m in models for row in evaluate_classifier(d, m, precisions)]
    reg = (
        [row for m in REGRESSORS for row in evaluate_regressor("diabetes", m, precisions)]
        if regression
        else []
    )
    if generated:
        gen_cls, gen_reg = generated_suite(generated, precisions)
        rows += gen_cls
        reg += gen_reg
    iris = next(
        (r for r in rows if r.dataset == "iris" and r.model == "mlp" and r.precision == "int8"),
        None,
    )
    return AccuracyReport(
        rows=rows,
        regression=reg,
        iris_mlp_int8_payload_bytes=iris.payload_bytes if iris else 0,
        iris_mlp_int8_file_bytes=iris.model_bytes if iris else 0,
        seconds=time.perf_counter() - start,
    )


def format_table(report: AccuracyReport) -> str:
    head = (
        f"{'dataset':<20}{'model':<28}{'prec':<7}{'layers':<22}{'float':>7}{'quant':>7}"
        f"{'agree':>8}{'drop pp':>9}{'bytes':>9}{'clip':>6}  status"
    )
    lines = [head, "-" * len(head)]
    for r in report.rows:
        lines.append(
            f"{r.dataset:<20}{r.model:<28}{r.precision:<7}{r.layers:<22}{r.float_accuracy:>7.4f}"
            f"{r.quant_accuracy:>7.4f}{r.agreement:>8.4f}{r.drop_pp:>9.2f}{r.model_bytes:>9}"
            f"{r.n_clipped:>6}  {report.status(r)}"
        )
    if report.regression:
        lines += [
            "",
            f"{'dataset':<20}{'model':<28}{'prec':<7}{'layers':<22}{'R2 float':>9}"
            f"{'R2 quant':>9}{'MAE fl':>8}{'MAE q':>8}{'mean|d|':>9}{'bytes':>9}  status",
        ]
        for g in report.regression:
            lines.append(
                f"{g.dataset:<20}{g.model:<28}{g.precision:<7}{g.layers:<22}{g.float_r2:>9.4f}"
                f"{g.quant_r2:>9.4f}{g.float_mae:>8.3f}{g.quant_mae:>8.3f}"
                f"{g.mean_abs_diff:>9.4f}{g.model_bytes:>9}  {report.status(g)}"
            )
    rows: list[Any] = [*report.rows, *report.regression]
    met = sum(report.status(r) == "met" for r in rows)
    auto = sum(report.status(r) == "auto" for r in rows)
    lines += [
        "",
        f"rows meeting their targets: {met} of {len(rows)}; {auto} INT8 rows miss but their "
        f"auto row meets; {len(rows) - met - auto} missed",
        f"iris 4-8-3 MLP at INT8: {report.iris_mlp_int8_payload_bytes} payload bytes, "
        f"{report.iris_mlp_int8_file_bytes} file bytes",
    ]
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    report = accuracy_report(
        args.datasets,
        args.models,
        regression=not args.no_regression,
        generated=args.generated,
    )
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(format_table(report))
    return 0 if report.all_met else 1


async def _handler(args: argparse.Namespace, ctx: Any) -> int:
    """CLI entry (``python -m client accuracy``): the work is synchronous and needs no chain."""
    return _run(args)


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``accuracy [--json]`` to an argparse sub-parser set.  Follows the CLI convention
    (``args.handler`` is ``async def (args, ctx) -> int``); ``args.func(args)`` is the same
    command without a context, for synchronous callers."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "accuracy",
        help="quantized vs float accuracy on the bundled datasets",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--datasets",
        nargs="+",
        default=list(CLASSIFICATION_DATASETS),
        choices=list(CLASSIFICATION_DATASETS),
    )
    p.add_argument("--models", nargs="+", default=list(CLASSIFIERS), choices=list(CLASSIFIERS))
    p.add_argument("--no-regression", action="store_true", help="skip the diabetes regressors")
    p.add_argument(
        "--generated",
        type=int,
        default=GENERATED_MODELS,
        metavar="N",
        help=f"random MLPs on generated data (default {GENERATED_MODELS}; 0 skips them)",
    )
    # url/keypair: what the CLI context reads; this command never connects to a chain.
    p.set_defaults(func=_run, handler=_handler, url="embedded", keypair=None)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m client.model.accuracy")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(["accuracy", *(argv or [])])
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
