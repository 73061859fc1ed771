"""The API's Swagger UI runs under the Content-Security-Policy (the `page` fixture fails on anything it blocks)."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_api_docs_render_under_the_policy(page, shots):
    page.goto("/api/docs/")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Hub Portal API")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    shots(page, "api-docs")
