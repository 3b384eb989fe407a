"""Partner Center REST client: typed models, Entra ID tokens, one typed error."""

from clients.partner_center.auth import AuthMode, EntraCredentials, TokenProvider
from clients.partner_center.client import (
    PartnerCenterClient,
    PartnerCenterConfig,
    new_request_id,
)
from clients.partner_center.errors import PartnerCenterError

__all__ = [
    "AuthMode",
    "EntraCredentials",
    "PartnerCenterClient",
    "PartnerCenterConfig",
    "PartnerCenterError",
    "TokenProvider",
    "new_request_id",
]
