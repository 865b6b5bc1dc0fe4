"""X's error bodies, copied from observed answers (sandbox/tests/x_api/examples/errors/).

Clients branch on these shapes (`type` suffixes, `errors[].message`), so the
sandbox sends X's exact bodies instead of inventing its own.
"""

from __future__ import annotations

from typing import Any, Final

PROBLEMS: Final = "https://api.twitter.com/2/problems/"

RATE_LIMITED: Final[dict[str, Any]] = {
    "title": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
    "detail": "Too Many Requests",
}
USAGE_CAPPED: Final[dict[str, Any]] = {
    "title": "UsageCapExceeded",
    "period": "Monthly",
    "scope": "Product",
    "detail": "Usage cap exceeded: Monthly product cap",
    "type": PROBLEMS + "usage-capped",
}
CREDITS_DEPLETED: Final[dict[str, Any]] = {
    "detail": "credits depleted",
    "status": 402,
    "title": "Payment Required",
    "type": "https://api.x.com/2/problems/credits-depleted",
}
#: An app without access to the endpoint (examples/errors/403_client_forbidden.docs_example.json).
CLIENT_FORBIDDEN: Final[dict[str, Any]] = {
    "client_id": "101010101",
    "required_enrollment": "Standard Basic",
    "registration_url": "https://developer.twitter.com/en/account",
    "title": "Client Forbidden",
    "detail": (
        "This request must be made using an approved developer account that is enrolled in "
        "the requested endpoint. Learn more by visiting our documentation."
    ),
    "reason": "client-not-enrolled",
    "type": "https://api.x.com/2/problems/client-forbidden",
}
UNAUTHORIZED: Final[dict[str, Any]] = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
UNSUPPORTED_AUTHENTICATION: Final[dict[str, Any]] = {
    "title": "Unsupported Authentication",
    "detail": (
        "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  "
        "Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context]."
    ),
    "type": PROBLEMS + "unsupported-authentication",
    "status": 403,
}
FORBIDDEN: Final[dict[str, Any]] = {
    "title": "Forbidden",
    "type": "about:blank",
    "status": 403,
    "detail": "Forbidden",
}
NOT_FOUND: Final[dict[str, Any]] = {
    "title": "Not Found",
    "type": "about:blank",
    "status": 404,
    "detail": "Not Found",
}
INTERNAL: Final[dict[str, Any]] = {
    "title": "Internal Server Error",
    "type": "about:blank",
    "status": 500,
    "detail": "Internal Server Error",
}


def param_error(parameter: str, value: str, message: str) -> dict[str, Any]:
    """Return one `errors[]` entry of an invalid-request problem."""
    return {"parameters": {parameter: [value]}, "message": message}


def invalid_request(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """Return X's 400 invalid-request problem carrying every parameter error found."""
    return {
        "errors": errors,
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": PROBLEMS + "invalid-request",
    }


def resource_not_found(*, resource_type: str, parameter: str, value: str) -> dict[str, Any]:
    """Return the partial error X puts in a 200 when an expanded object is gone."""
    return {
        "value": value,
        "detail": f"Could not find {resource_type} with {parameter}: [{value}].",
        "title": "Not Found Error",
        "resource_type": resource_type,
        "parameter": parameter,
        "resource_id": value,
        "type": PROBLEMS + "resource-not-found",
    }


def suspended_user(*, parameter: str, value: str, section: str | None = None) -> dict[str, Any]:
    """Return the partial error X gives for a suspended user (`title: Forbidden`)."""
    error: dict[str, Any] = {
        "value": value,
        "detail": f"User has been suspended: [{value}].",
        "title": "Forbidden",
        "resource_type": "user",
        "parameter": parameter,
        "resource_id": value,
        "type": PROBLEMS + "resource-not-found",
    }
    if section is not None:
        error["section"] = section
    return error


def not_authorized(
    *, resource_type: str, parameter: str, value: str, section: str | None = None
) -> dict[str, Any]:
    """Return the partial error X gives for a protected account's post (`Authorization Error`)."""
    error: dict[str, Any] = {
        "value": value,
        "detail": f"Sorry, you are not authorized to see the {resource_type.capitalize()} "
        f"with {parameter}: [{value}].",
        "title": "Authorization Error",
        "resource_type": resource_type,
        "parameter": parameter,
        "resource_id": value,
        "type": PROBLEMS + "not-authorized-for-resource",
    }
    if section is not None:
        error["section"] = section
    return error
