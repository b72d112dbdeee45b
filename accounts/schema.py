from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.auth.TokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal token (trp_…) for CI and scripts, or an agent token (tra_…) for device agents.",
        }


class RunTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "sdk_bridge.api.views.RunTokenAuthentication"
    name = "runToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "A run token (trr_…) from POST /api/v1/runs/{id}/token/, for in-app SDK bridges."}
