"""The ingest OpenAPI document: examples for every request body and error; the limits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.ingest.app import create_app
from shared.settings import Settings

WRITES = ["/v1/events", "/v1/events/batch", "/v1/articles"]
ERRORS = ["401", "403", "413", "415", "422", "429", "503"]


@pytest.fixture(scope="module")
async def document() -> dict[str, Any]:
    settings = Settings(
        env="test", max_event_bytes=65536, max_request_bytes=1_000_000, max_batch_events=250
    )
    app = create_app(settings)
    # /openapi.json needs no Redis: no lifespan is run.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        r = await client.get("/openapi.json")
    assert r.status_code == 200
    doc: dict[str, Any] = r.json()
    return doc


class TestRequestBodies:
    @pytest.mark.parametrize("path", WRITES)
    def test_every_media_type_has_a_schema_and_examples(
        self, document: dict[str, Any], path: str
    ) -> None:
        content = document["paths"][path]["post"]["requestBody"]["content"]
        assert content
        for media, body in content.items():
            assert body["examples"], media
            assert "$ref" in body["schema"] or "$ref" in body["schema"]["items"]

    def test_event_bodies_cover_structured_and_plain(self, document: dict[str, Any]) -> None:
        content = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]
        assert set(content) == {"application/cloudevents+json", "application/json"}
        structured = content["application/cloudevents+json"]["examples"]["structured"]["value"]
        assert structured["specversion"] == "1.0"
        batch = document["paths"]["/v1/events/batch"]["post"]["requestBody"]["content"]
        assert set(batch) == {"application/cloudevents-batch+json", "application/json"}

    def test_referenced_models_are_in_the_components(self, document: dict[str, Any]) -> None:
        schemas = document["components"]["schemas"]
        for name in ("CloudEvent", "StrategyEvent", "Source", "Article", "ErrorBody"):
            assert name in schemas, name


class TestResponses:
    @pytest.mark.parametrize("path", WRITES)
    def test_every_error_is_documented_with_examples(
        self, document: dict[str, Any], path: str
    ) -> None:
        responses = document["paths"][path]["post"]["responses"]
        assert "202" in responses
        for code in ERRORS:
            answer = responses[code]
            media = answer["content"]["application/json"]
            assert media["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, code
            assert media["examples"], code
            for example in media["examples"].values():
                assert set(example["value"]) >= {"error", "detail", "field"}

    @pytest.mark.parametrize("code", ["429", "503"])
    def test_retry_after_is_documented(self, document: dict[str, Any], code: str) -> None:
        answer = document["paths"]["/v1/events"]["post"]["responses"][code]
        assert "Retry-After" in answer["headers"]

    def test_status_endpoint_documents_its_answers(self, document: dict[str, Any]) -> None:
        responses = document["paths"]["/v1/events/{event_id}/status"]["get"]["responses"]
        assert {"200", "401", "403", "404", "422", "503"} <= set(responses)
        examples = responses["200"]["content"]["application/json"]["examples"]
        assert {"stored", "rejected"} <= set(examples)


class TestDescription:
    def test_limits_are_published(self, document: dict[str, Any]) -> None:
        text = document["info"]["description"]
        assert "65536 bytes" in text
        assert "1000000 bytes" in text
        assert "250 events" in text
        assert "events/s" in text and "Retry-After" in text
        assert "7 days" in text
