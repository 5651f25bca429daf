"""Every service's OpenAPI document is one a client generator can use: stable, human operation
ids, tags, the API key as an HTTP bearer scheme on the operations that need one (and on none that
do not), and errors, 422 included, in the one error shape. tests/security/test_auth_scopes.py
checks the declared keys against the services' answers; tests/integration/
test_generated_clients.py generates clients from these documents and uses them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from services.ingest.app import create_app as ingest_app
from services.notify.app import create_app as notify_app
from services.timeline.app import create_app as timeline_app
from shared.settings import Settings

APPS: dict[str, Callable[[Settings], FastAPI]] = {
    "ingest": ingest_app,
    "timeline": timeline_app,
    "notify": notify_app,
}
HEALTH = {"/healthz", "/readyz"}
# Clients are written against these names: renaming one breaks them.
PINNED = {
    "ingest": {
        ("post", "/v1/events"): "postEvent",
        ("post", "/v1/events/batch"): "postEventBatch",
        ("post", "/v1/articles"): "postArticle",
        ("get", "/v1/events/{event_id}/status"): "getEventStatus",
        ("get", "/v1/status"): "getPipelineStatus",
    },
    "timeline": {
        ("get", "/v1/companies"): "listCompanies",
        ("get", "/v1/companies/{slug}/timeline"): "getCompanyTimeline",
        ("get", "/v1/companies/{slug}/phases"): "getCompanyPhases",
        ("get", "/v1/timeline"): "getTimeline",
        ("get", "/v1/events/{event_id}"): "getEvent",
        ("get", "/v1/events/{event_id}/history"): "getEventHistory",
        ("get", "/v1/stream"): "streamChanges",
    },
    "notify": {
        ("post", "/v1/subscriptions"): "createSubscription",
        ("get", "/v1/subscriptions"): "listSubscriptions",
        ("get", "/v1/subscriptions/{subscription_id}"): "getSubscription",
        ("patch", "/v1/subscriptions/{subscription_id}"): "updateSubscription",
        ("delete", "/v1/subscriptions/{subscription_id}"): "deleteSubscription",
        ("post", "/v1/subscriptions/{subscription_id}/test"): "sendTestDelivery",
        ("post", "/v1/subscriptions/{subscription_id}/rotate-secret"): "rotateSubscriptionSecret",
        ("post", "/v1/subscriptions/{subscription_id}/enable"): "enableSubscription",
        ("post", "/v1/subscriptions/{subscription_id}/replay"): "replaySubscription",
        ("get", "/v1/subscriptions/{subscription_id}/records"): "listEndpointRecords",
        ("get", "/v1/subscriptions/{subscription_id}/deliveries"): "listSubscriptionDeliveries",
        ("get", "/v1/deliveries"): "listDeliveries",
        ("get", "/v1/deliveries/{delivery_id}"): "getDelivery",
        ("post", "/v1/deliveries/{delivery_id}/retry"): "retryDelivery",
    },
}
BEARER = {"type": "http", "scheme": "bearer"}


def document(service: str, **settings: Any) -> dict[str, Any]:
    doc: dict[str, Any] = APPS[service](Settings(env="test", **settings)).openapi()
    return doc


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m, p): op for p, ops in doc["paths"].items() for m, op in ops.items()}


@pytest.mark.parametrize("service", sorted(APPS))
class TestOperations:
    def test_the_pinned_operation_ids(self, service: str) -> None:
        ids = {k: op.get("operationId") for k, op in operations(document(service)).items()}
        assert {k: ids.get(k) for k in PINNED[service]} == PINNED[service]

    def test_every_operation_has_a_unique_camel_case_id_and_a_tag(self, service: str) -> None:
        ops = operations(document(service))
        ids = [op.get("operationId", "") for op in ops.values()]
        assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", i) for i in ids), ids
        assert len(ids) == len(set(ids))
        assert all(op.get("tags") for op in ops.values())

    def test_errors_are_documented_in_the_one_shape(self, service: str) -> None:
        doc = document(service)
        assert "HTTPValidationError" not in json.dumps(doc)
        for (method, path), op in operations(doc).items():
            invalid = op["responses"].get("422")
            if invalid is not None:
                schema = invalid["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)


class TestTheKey:
    @pytest.mark.parametrize("service", ["ingest", "notify"])
    def test_every_operation_but_health_needs_the_bearer_key(self, service: str) -> None:
        doc = document(service)
        scheme = doc["components"]["securitySchemes"]["apiKey"]
        assert {k: scheme[k] for k in BEARER} == BEARER
        for (method, path), op in operations(doc).items():
            expected = None if path in HEALTH else [{"apiKey": []}]
            assert op.get("security") == expected, (method, path)

    def test_the_timeline_reads_are_public_unless_a_read_key_is_required(self) -> None:
        public, locked = document("timeline"), document("timeline", require_read_key=True)
        reads = [k for k in PINNED["timeline"] if k[0] == "get"]
        assert all("security" not in operations(public)[k] for k in reads)
        assert all(operations(locked)[k]["security"] == [{"apiKey": []}] for k in reads)
        assert all("401" in operations(locked)[k]["responses"] for k in reads)
        for path in HEALTH:
            assert "security" not in operations(locked)[("get", path)]

    def test_post_event_documents_the_idempotency_key(self) -> None:
        op = operations(document("ingest"))[("post", "/v1/events")]
        (param,) = op["parameters"]
        assert (param["name"], param["in"], param["required"]) == (
            "Idempotency-Key",
            "header",
            False,
        )
