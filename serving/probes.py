"""The app's operational endpoints: ``/healthz``, ``/readyz``, ``/ab`` and ``/metrics``.

``/healthz`` runs on the event loop itself: a liveness probe must not queue behind scoring work
waiting for a worker thread. ``/readyz`` reads the online store once (an id that never exists)
to prove it answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from serving.metrics import ServingMetrics
from serving.models import LoadedModel

if TYPE_CHECKING:
    from feature_store.store import OnlineFeatureReader
    from serving.ab import AbRouter
    from serving.shadow.mirror import ShadowMirror


def add_probe_routes(
    app: FastAPI,
    *,
    champion: LoadedModel,
    model_name: str,
    metrics: ServingMetrics,
    feature_reader: OnlineFeatureReader | None,
    shadow: ShadowMirror | None,
    ab: AbRouter | None,
) -> None:
    """Add the four endpoints to ``app``, reporting on the parts it was built with."""

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive (says nothing about the model or the feature store)."""
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"description": "not ready"}})
    def readyz() -> JSONResponse:
        """Ready when the champion is loaded and, if configured, the online store answers."""
        checks: dict[str, str] = {"model": f"{model_name} {champion.version}"}
        ready = champion.model is not None
        if feature_reader is not None:
            try:
                # An id that never exists: the answer is all nulls, but getting one proves the store reads.
                feature_reader.row(0 if feature_reader.int_ids else "__readyz__")
                checks["feature_store"] = "ok"
            except Exception as exc:
                ready = False
                checks["feature_store"] = f"unavailable: {type(exc).__name__}"
        if shadow is not None:
            checks["shadow"] = "closed" if shadow.closed else f"challenger {shadow.challenger_version}"
        return JSONResponse({"status": "ready" if ready else "not ready", **checks}, status_code=200 if ready else 503)

    @app.get("/ab")
    def ab_status() -> dict[str, Any]:
        """A/B routing: each variant's alias, weight, version and what it has served so far."""
        if ab is None:
            return {"enabled": False, "variants": {}}
        return ab.status()

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: {"description": "Prometheus text exposition", "content": {"text/plain": {}}}},
    )
    def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)


__all__ = ["add_probe_routes"]
