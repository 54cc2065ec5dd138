"""A fake of the Kubeflow Pipelines REST API (v2beta1), for the schedule sync's tests.

KFP's backend cannot run here (it needs Kubernetes, Argo Workflows and MySQL), so the tests stop
at the HTTP boundary: this server answers the calls ``kfp.Client`` makes with the JSON shapes of
KFP 2.x's API server, as recorded from it. Those include its quirks: snake_case field names but
``recurringRuns`` in the list of recurring runs, int64 fields (``max_concurrency``) as strings,
enums as names, and a page-size cap (here 2, to exercise paging). State lives in memory; every
request is recorded (method, path, query, JSON body) for the tests to compare with what they
expect.

Served: ``GET /apis/v2beta1/healthz``; ``GET /apis/v2beta1/pipelines``,
``GET /apis/v2beta1/pipelines/{id}/versions[/{version_id}]``; ``GET|POST /apis/v2beta1/experiments``
(``display_name`` EQUALS filters); ``GET|POST /apis/v2beta1/recurringruns`` (by ``experiment_id``),
``DELETE /apis/v2beta1/recurringruns/{id}``, ``POST /apis/v2beta1/recurringruns/{id}:enable|:disable``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fake_http import serve_json

PAGE_CAP = 2
CREATED_AT = "2026-11-30T02:00:00Z"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str = ""


@dataclass
class FakeKfp:
    """The server's state: pipelines with their versions, experiments, recurring runs."""

    multi_user: bool = False
    pipelines: list[dict[str, Any]] = field(default_factory=list)
    versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    experiments: list[dict[str, Any]] = field(default_factory=list)
    recurring_runs: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def add_pipeline(self, name: str, version: str, pipeline_spec: dict[str, Any], namespace: str = "kubeflow") -> str:
        """A Pipeline and one PipelineVersion as Kubernetes-native KFP serves the chart's objects."""
        pipeline_id = str(uuid.uuid4())
        self.pipelines.append(
            {
                "pipeline_id": pipeline_id,
                "name": name,
                "display_name": name,
                "description": name,
                "created_at": CREATED_AT,
                "namespace": namespace,
            }
        )
        self.versions[pipeline_id] = [
            {
                "pipeline_id": pipeline_id,
                "pipeline_version_id": str(uuid.uuid4()),
                "name": version,
                "display_name": version.replace("-", " "),
                "description": name,
                "created_at": CREATED_AT,
                "pipeline_spec": pipeline_spec,
            }
        ]
        return pipeline_id

    def add_recurring_run(self, body: dict[str, Any]) -> dict[str, Any]:
        """A recurring run as the API server stores and returns it."""
        mode = body.get("mode") or "ENABLE"
        stored = {
            **body,
            "recurring_run_id": str(uuid.uuid4()),
            "max_concurrency": str(body.get("max_concurrency", "1")),
            "mode": mode,
            "status": "ENABLED" if mode == "ENABLE" else "DISABLED",
            "created_at": CREATED_AT,
            "updated_at": CREATED_AT,
            "namespace": "kubeflow",
            "service_account": body.get("service_account") or "pipeline-runner",
        }
        self.recurring_runs.append(stored)
        return stored

    def calls(self, method: str, prefix: str = "/apis/v2beta1/recurringruns") -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    # ----------------------------------------------------------------------- routing
    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        parts = path.removeprefix("/apis/v2beta1/").split("/")
        if method == "GET" and parts == ["healthz"]:
            return 200, {"multi_user": self.multi_user, "pipeline_store": "kubernetes"}
        if parts[0] == "pipelines":
            return self._pipelines(method, parts[1:], query)
        if parts[0] == "experiments":
            return self._experiments(method, query, body)
        if parts[0] == "recurringruns":
            return self._recurring_runs(method, parts[1:], query, body)
        return _error(404, f"no route {method} {path}")

    def _pipelines(self, method: str, rest: list[str], query: dict[str, str]) -> tuple[int, Any]:
        if method != "GET":
            return _error(405, "read-only here")
        if not rest:
            return 200, _page("pipelines", self.pipelines, query)
        versions = self.versions.get(rest[0])
        if versions is None:
            return _error(404, f"pipeline {rest[0]} not found")
        if rest[1:] == ["versions"]:
            return 200, _page("pipeline_versions", versions, query)
        found = [v for v in versions if rest[1:] == ["versions", v["pipeline_version_id"]]]
        return (200, found[0]) if found else _error(404, "version not found")

    def _experiments(self, method: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if method == "POST":
            experiment = {
                "experiment_id": str(uuid.uuid4()),
                "display_name": body["display_name"],
                "description": body.get("description") or "",
                "created_at": CREATED_AT,
                "namespace": body.get("namespace") or "kubeflow",
                "storage_state": "AVAILABLE",
            }
            self.experiments.append(experiment)
            return 200, experiment
        listed = self.experiments
        if "filter" in query:
            predicates = json.loads(query["filter"]).get("predicates") or []
            for p in predicates:
                # kfp sends the operation as its enum number (EQUALS is 1); the server takes either.
                if p.get("key") != "display_name" or p.get("operation") not in (1, "EQUALS"):
                    return _error(400, f"filter not supported by this fake: {p}")
                listed = [e for e in listed if e["display_name"] == p["stringValue"]]
        return 200, _page("experiments", listed, query)

    def _recurring_runs(self, method: str, rest: list[str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        if method == "POST" and not rest:
            return 200, self.add_recurring_run(body)
        if method == "GET" and not rest:
            listed = [r for r in self.recurring_runs if r["experiment_id"] == query.get("experiment_id", "")]
            # The only list response whose field is camelCase (recurringRuns in run.proto).
            return 200, _page("recurringRuns", listed, query)
        run_id, _, verb = rest[0].partition(":")
        found = [r for r in self.recurring_runs if r["recurring_run_id"] == run_id]
        if not found:
            return _error(404, f"recurring run {run_id} not found")
        if method == "DELETE":
            self.recurring_runs.remove(found[0])
            return 200, {}
        if method == "POST" and verb in ("enable", "disable"):
            found[0]["mode"] = verb.upper()
            found[0]["status"] = "ENABLED" if verb == "enable" else "DISABLED"
            return 200, {}
        return _error(405, f"{method} {rest}")


def _page(field_name: str, items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
    size = min(int(query.get("page_size") or 10), PAGE_CAP)
    start = int(query.get("page_token") or 0)
    page: dict[str, Any] = {field_name: items[start : start + size], "total_size": len(items)}
    if start + size < len(items):
        page["next_page_token"] = str(start + size)
    if not page[field_name]:
        del page[field_name]  # proto3 JSON leaves an empty repeated field out
    return page


def _error(status: int, message: str) -> tuple[int, Any]:
    return status, {"error": message, "code": status, "message": message, "details": []}


@contextmanager
def serving(fake: FakeKfp) -> Iterator[FakeKfp]:
    """Serve ``fake`` on 127.0.0.1 (a free port) until the block ends; ``fake.url`` is its address."""

    def answer(method: str, path: str, headers: Mapping[str, str], body: Any) -> tuple[int, Any]:
        url = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        fake.requests.append(Request(method, url.path, query, body, headers.get("Authorization") or ""))
        return fake.handle(method, url.path, query, body)

    with serve_json(answer) as url:
        fake.url = url
        yield fake
