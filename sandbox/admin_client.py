"""A small async client for the sandbox's admin paths (tests, demo, chaos harness)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from sandbox.admin import PREFIX


class SandboxAdmin:
    def __init__(self, base_url: str, http: httpx.AsyncClient | None = None) -> None:
        self._base = base_url.rstrip("/") + PREFIX
        # Idle connections are dropped before the server's keep-alive timeout (uvicorn: 5 s)
        # would close them under a request.
        self._http = http or httpx.AsyncClient(
            timeout=30, limits=httpx.Limits(keepalive_expiry=2.0)
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = await self._http.request(method, self._base + path, json=body)
        except httpx.TransportError:
            if method != "GET":
                raise
            # A read is safe to ask again: a busy sandbox may close a kept-alive connection
            # just as the request goes out.
            response = await self._http.request(method, self._base + path, json=body)
        if response.status_code >= 400:
            raise RuntimeError(f"sandbox admin {method} {path}: {response.text}")
        return response.json()

    async def set_faults(self, **faults: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("PUT", "/faults", faults)
        return result

    async def set_settings(self, **settings: Any) -> Any:
        return await self._call("PATCH", "/settings", settings)

    async def reset(self) -> None:
        await self._call("POST", "/reset")

    async def advance_clock(self, seconds: float) -> None:
        await self._call("POST", "/clock", {"advanceSeconds": seconds})

    async def set_clock(self, now: datetime) -> None:
        """Move the sandbox's clock forward to `now` (timezone-aware)."""
        await self._call("POST", "/clock", {"now": now.isoformat()})

    async def clock(self) -> datetime:
        result = await self._call("GET", "/clock")
        return datetime.fromisoformat(result["now"])

    async def change_subscription(
        self,
        customer_id: str,
        subscription_id: str,
        *,
        quantity: int | None = None,
        status: str | None = None,
        auto_renew_enabled: bool | None = None,
    ) -> dict[str, Any]:
        """Change a subscription behind the engine's back (as in Partner Center's portal): no
        refund window opens and no Partner Center call is counted. The subscription after."""
        fields = {"quantity": quantity, "status": status, "autoRenewEnabled": auto_renew_enabled}
        body = {k: v for k, v in fields.items() if v is not None}
        result: dict[str, Any] = await self._call(
            "PATCH", f"/customers/{customer_id}/subscriptions/{subscription_id}", body
        )
        return result

    async def add_reseller(
        self,
        mpn_id: str,
        tenant_id: str,
        *,
        signed: bool = True,
        mpa_check_error: int | None = None,
    ) -> None:
        await self._call(
            "POST",
            "/resellers",
            {
                "mpnId": mpn_id,
                "tenantId": tenant_id,
                "agreementSigned": signed,
                "mpaCheckError": mpa_check_error,
            },
        )

    async def add_tenant(self, domain: str, company_name: str, country: str = "US") -> str:
        body = {"domain": domain, "companyName": company_name, "country": country}
        result = await self._call("POST", "/tenants", body)
        return str(result["tenantId"])

    async def accept_relationship(self, domain: str) -> str:
        result = await self._call("POST", f"/tenants/{domain}/accept-relationship")
        return str(result["customerId"])

    async def add_customer(
        self,
        company_name: str,
        domain: str,
        *,
        country: str = "US",
        qualifications: list[dict[str, str]] | None = None,
        customer_agreement: bool = True,
        associated_partner_id: str | None = None,
    ) -> str:
        body = {
            "companyName": company_name,
            "domain": domain,
            "country": country,
            "qualifications": qualifications or [],
            "customerAgreement": customer_agreement,
            "associatedPartnerId": associated_partner_id,
        }
        result = await self._call("POST", "/customers", body)
        return str(result["id"])

    async def add_subscription(self, customer_id: str, catalog_item_id: str, **fields: Any) -> Any:
        body = {"catalogItemId": catalog_item_id, **fields}
        return await self._call("POST", f"/customers/{customer_id}/subscriptions", body)

    async def set_vetting(
        self, customer_id: str, qualification: str, status: str, reason: str | None = None
    ) -> Any:
        body = {"vettingStatus": status, "vettingReason": reason}
        return await self._call(
            "PUT", f"/customers/{customer_id}/qualifications/{qualification}", body
        )

    async def set_address_verdict(
        self, address: dict[str, Any], status: str, **fields: Any
    ) -> None:
        await self._call("POST", "/addresses", {"address": address, "status": status, **fields})

    async def replace_availability(self, catalog_item_id: str) -> str:
        """Make the offer's availability id stale (Microsoft published a new one); the new id."""
        result = await self._call(
            "POST", "/catalog/replace-availability", {"catalogItemId": catalog_item_id}
        )
        return str(result["catalogItemId"])

    async def refuse_next(self, call: str, status: int, code: int, description: str) -> None:
        """Partner Center refuses the next call named `call` with this error."""
        await self._call(
            "PUT",
            "/refusals",
            {"call": call, "status": status, "code": code, "description": description},
        )

    async def hold(self, call: str) -> None:
        """Hold the next Partner Center calls named `call` until `release_held()`."""
        await self._call("PUT", "/holds", {"call": call})

    async def held(self) -> dict[str, int]:
        result: dict[str, int] = await self._call("GET", "/holds")
        return result

    async def release_held(self) -> None:
        await self._call("DELETE", "/holds")

    async def calls(self) -> dict[str, int]:
        result: dict[str, int] = await self._call("GET", "/calls")
        return result

    async def clear_calls(self) -> None:
        await self._call("DELETE", "/calls")

    async def snapshot(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/snapshot")
        return result
