"""What ``mlops serve`` runs: the models and the feature reader from the stores, then uvicorn.

build_app(stores, model, shadow=...)    the app exactly as served, plus its mirror (tests and
                                        benchmarks use it without a server)
uvicorn_config(app, host=..., port=...) the server settings ``mlops serve`` runs with: request
                                        limits and read deadlines (serving.limits, serving.protocol)
run_server(app, host=..., port=...)     serves a built app as ``mlops serve`` does, until stopped
serve_command(host, port, model, stores, shadow)   builds it and serves until stopped
"""

from __future__ import annotations

import gc
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.config import SHADOW_MAX_CPU
from serving.limits import RequestLimits

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI
    from starlette.types import ASGIApp

    from observability.prediction_log import PredictionLogger
    from serving.config import AbTestingConfig, MicroBatchingConfig
    from serving.models import LoadedModels
    from serving.shadow.mirror import ShadowMirror
    from serving.shadow.process import ProcessChallenger
    from serving.stores import ServingStores

# uvicorn configures this logger, so start-up lines appear beside its own.
log = logging.getLogger("uvicorn.error")


@dataclass
class ServingApp:
    app: FastAPI
    models: LoadedModels
    shadow: ShadowMirror | None
    comparison_store: Path | None
    challenger_process: ProcessChallenger | None = None
    prediction_log: PredictionLogger | None = None

    def close(self, timeout: float = 5.0) -> None:
        """Write what the mirror and the prediction log still hold, then stop the challenger
        process (call at shutdown)."""
        if self.shadow is not None:
            self.shadow.close(timeout)
        if self.prediction_log is not None:
            self.prediction_log.close(timeout)
        if self.challenger_process is not None:
            self.challenger_process.close()


def limit_native_threads() -> None:
    """One OpenMP/BLAS thread per scoring call, unless the operator set otherwise.

    A request scores one row: a thread team costs more to wake than the work, and on a busy
    machine its spin-waits stall the call (measured: single-row p95 16 ms with one thread,
    470 ms with the default team on 2 shared cores). Concurrency comes from requests, not from
    threads inside a call. Must run before scikit-learn loads its OpenMP runtime.
    """
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")


def build_app(
    stores: ServingStores,
    model: str,
    *,
    shadow: bool,
    features: bool = True,
    shadow_timeout_s: float = 0.5,
    shadow_queue_size: int = 1000,
    shadow_max_cpu: float | None = None,
    challenger_in_process: bool = False,
    ab: AbTestingConfig | None = None,
    limits: RequestLimits | None = None,
    batching: MicroBatchingConfig | None = None,
) -> ServingApp:
    """The serving app of ``model``: champion from the registry, challenger mirrored when ``shadow``.

    With ``features``, requests may leave out features the Feast online store holds for their
    entity (the feature view named after the model's dataset must exist: ``mlops run training``
    builds it; the champion reads the view it was trained with). Shadow pairs go to
    ``<state>/shadow/<model>.sqlite``, segmented by the sensitive attributes of the champion's
    serving schema (numeric ones by their fairness groups). The challenger scores in a
    child process (:class:`~serving.shadow.process.ProcessChallenger`) so its CPU work never
    holds the primary's interpreter lock; ``challenger_in_process`` keeps it in a thread.
    ``shadow_max_cpu``: the mirror sheds rows while the process uses more than this share of
    its CPU (None: never; ``mlops serve`` uses :data:`~serving.config.SHADOW_MAX_CPU`).
    ``ab`` (enabled) routes requests between champion and challenger by sticky entity-id hash;
    a variant with traffic whose alias has no version registered is refused (ValueError).
    ``limits``: request body size and read time (default :class:`~serving.limits.RequestLimits`).
    ``batching``: micro-batching of ``/predict`` (default :class:`~serving.config.MicroBatchingConfig`).
    """
    from mlops.errors import RegistryError
    from mlops.state import StateLayout
    from serving.app import create_app
    from serving.models import load_models

    registry = stores.registry
    ab_on = ab is not None and ab.enabled
    loaded = load_models(registry, model, shadow=shadow or ab_on)
    champion = loaded.champion

    reader = None
    if features:
        from feature_store.store import OnlineFeatureReader

        # The view this version was trained with: a later training on other features has its
        # own view and must not change what the champion reads.
        view = champion.info.tags.get("feature_view") if champion.info is not None else None
        reader = OnlineFeatureReader(
            name=model,
            state_dir=StateLayout(stores.state_dir).feast,
            config=stores.features,
            environment=stores.environment,
            view=view or None,
        )

    roles: dict[str, Any] = {}
    if champion.info is not None:
        try:
            roles = registry.lineage(champion.info).get("roles") or {}
        except Exception as exc:  # a version registered without lineage still serves
            log.warning(
                "no lineage for %s %s (%s): shadow pairs carry no segment unless the schema names them, "
                "and no dataset na_values are read as missing",
                model,
                champion.version,
                exc,
            )
    # Versions whose schema predates typed sensitive attributes: names from the lineage.
    segments = list(champion.schema.sensitive) or [str(c) for c in roles.get("sensitive") or []]

    mirror = None
    store_path = None
    process = None
    router = None
    if ab is not None and ab.enabled:
        from serving.ab import AbRouter

        aliases = {"champion": champion, **({"challenger": loaded.challenger} if loaded.challenger else {})}
        try:
            router = AbRouter(ab, aliases)
        except ValueError as exc:
            raise RegistryError(f"A/B testing for {model}: {exc}") from None
        log.info("A/B testing: %s", ", ".join(f"{n} {v.alias} {v.weight:g}" for n, v in sorted(ab.variants.items())))
    if shadow and loaded.challenger is None:
        log.warning("shadow mode: %s has no challenger; serving the champion alone", model)
    elif shadow and loaded.challenger is not None:
        from serving.shadow.mirror import ChallengerPredict, ShadowMirror
        from serving.shadow.store import ComparisonStore, comparison_store_path

        store_path = comparison_store_path(stores.state_dir, model)
        predict: ChallengerPredict = loaded.challenger.predict
        if not challenger_in_process:
            from serving.shadow.process import ProcessChallenger

            process = predict = ProcessChallenger(loaded.challenger)
        mirror = ShadowMirror(
            predict,
            ComparisonStore(store_path),
            challenger_version=loaded.challenger.version,
            champion_version=champion.version,
            queue_size=shadow_queue_size,
            timeout_s=shadow_timeout_s,
            max_cpu=shadow_max_cpu,
        )
    prediction_log = None
    if stores.prediction_log is not None and stores.prediction_log.enabled:
        from observability.prediction_log import PredictionLogger, predictions_root

        # Never a PII column in the log, even one the request may carry as a feature.
        prediction_log = PredictionLogger(
            predictions_root(stores.prediction_log, stores.state_dir),
            stores.prediction_log,
            exclude_columns=champion.schema.pii,
        )
    app = create_app(
        champion=champion,
        challenger=loaded.challenger,
        serving_schema=champion.schema,
        model_name=model,
        feature_reader=reader,
        shadow=mirror,
        segment_columns=segments,
        ab=router,
        limits=limits,
        prediction_log=prediction_log,
        batching=batching,
        missing_markers=[str(v) for v in roles.get("na_values") or []],
    )
    return ServingApp(app, loaded, mirror, store_path, process, prediction_log)


def uvicorn_config(
    app: ASGIApp, *, host: str, port: int, limits: RequestLimits | None = None, log_level: str = "info"
) -> uvicorn.Config:
    """The uvicorn settings of ``mlops serve`` for ``app`` (built with the same ``limits``).

    The httptools protocol (uvicorn's default when installed) with read deadlines and a header
    size limit (uvicorn has no deadline for headers or bodies, httptools no header limit), and
    no WebSocket support: the app serves none, and an upgrade would hand the connection to a
    protocol without those guards.
    """
    import uvicorn

    from serving.protocol import GuardedHttpToolsProtocol

    limits = limits or RequestLimits()
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=GuardedHttpToolsProtocol.configured(limits),
        ws="none",
        timeout_keep_alive=limits.keep_alive_s,
        limit_concurrency=limits.max_concurrency,
        log_level=log_level,
        access_log=False,
    )


def run_server(
    app: FastAPI, *, host: str, port: int, limits: RequestLimits | None = None, log_level: str = "info"
) -> None:
    """Serve ``app`` (built with the same ``limits``) with :func:`uvicorn_config` until stopped.

    Everything loaded so far (libraries, models, the app) lives as long as the process, so it
    is exempted from garbage collection first: otherwise every full collection walks it all
    while holding the interpreter lock, ~100 ms each (measured: two such pauses a second
    under a 1000-row batch load, each one a stalled health check).
    """
    import uvicorn

    gc.collect()
    gc.freeze()
    uvicorn.Server(uvicorn_config(app, host=host, port=port, limits=limits, log_level=log_level)).run()


def serve_command(
    host: str,
    port: int,
    model: str,
    stores: ServingStores,
    shadow: bool,
    *,
    features: bool = True,
    ab: AbTestingConfig | None = None,
    limits: RequestLimits | None = None,
    batching: MicroBatchingConfig | None = None,
    shadow_max_cpu: float = SHADOW_MAX_CPU,
) -> None:
    """Serve ``model``'s champion (and mirror its challenger when ``shadow``) until interrupted.

    ``ab``: route between variants as it says (when enabled). ``limits``: request size limits
    and read deadlines (default :class:`~serving.limits.RequestLimits`). ``batching``: micro-batching
    of ``/predict`` (default :class:`~serving.config.MicroBatchingConfig`). ``shadow_max_cpu``:
    see :func:`build_app`. Raises the platform's
    errors (RegistryError, FeatureStoreError) before binding, for the CLI to print. Callers
    call :func:`limit_native_threads` before opening the registry (it loads scikit-learn).
    """
    limits = limits or RequestLimits()
    serving = build_app(
        stores, model, shadow=shadow, features=features, ab=ab, limits=limits, batching=batching,
        shadow_max_cpu=shadow_max_cpu,
    )  # fmt: skip
    champion = serving.models.champion
    log.info("serving %s %s on http://%s:%d (OpenAPI at /docs)", model, champion.version, host, port)
    state = serving.app.state
    if state.batcher is None:
        log.info("micro-batching off")
    else:
        where = "thread pool" if state.batcher.offload else "event loop"
        log.info(
            "micro-batching: up to %d requests, %g ms at most, scored on the %s",
            state.batcher.max_batch_size,
            state.batcher.max_wait_s * 1000,
            where,
        )
    if serving.shadow is not None:
        log.info(
            "shadow: challenger %s, pairs logged to %s", serving.shadow.challenger_version, serving.comparison_store
        )
    # One process: the mirror's queue and worker live in it (several workers would each need their own).
    try:
        run_server(serving.app, host=host, port=port, limits=limits)
    finally:
        serving.close()
        if serving.shadow is not None:
            log.info("shadow: %s", serving.shadow.stats())


__all__ = ["ServingApp", "build_app", "limit_native_threads", "run_server", "serve_command", "uvicorn_config"]
