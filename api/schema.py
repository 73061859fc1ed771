"""drf-spectacular extensions: how the schema describes this API's authentication."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key, created on the API keys page of the Client Hub or Partner Hub (or by staff "
            "for the messaging platform), sent as `Authorization: Bearer <key>`.",
        }
