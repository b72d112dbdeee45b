"""Bearer-token authentication for the REST API: personal tokens (trp_…) act as their user; agent tokens
(tra_…) act as the agent, scoped to the agent's project."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from .models import PersonalToken, hash_token
from .scoping import AgentPrincipal


class TokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Malformed Authorization header: use 'Bearer <token>'."))
        try:
            plaintext = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("The token contains invalid characters.")) from None
        if plaintext.startswith("tra_"):
            return self._agent(plaintext)
        if plaintext.startswith("trp_"):
            return self._personal(plaintext)
        raise exceptions.AuthenticationFailed(_("Unknown token type: tokens start with trp_ or tra_."))

    def _personal(self, plaintext: str):
        token = PersonalToken.objects.select_related("user").filter(token_hash=hash_token(plaintext)).first()
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.is_active:
            raise exceptions.AuthenticationFailed(_("This token has been revoked."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("The token's user is inactive."))
        token.touch()
        return token.user, token

    def _agent(self, plaintext: str):
        from automation.models import AgentToken

        token = AgentToken.objects.select_related("agent").filter(token_hash=hash_token(plaintext)).first()
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.is_active:
            raise exceptions.AuthenticationFailed(_("This token has been revoked."))
        token.touch()
        return AgentPrincipal(token.agent), token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
